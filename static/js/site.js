// Our own small behaviours; htmx and its extensions come from the django-htmx package.
// Marks live areas as connected or not, so people can tell a quiet page from a dead socket.
document.addEventListener("htmx:wsOpen", (event) => {
  event.target.closest(".live")?.classList.add("connected");
});
document.addEventListener("htmx:wsClose", (event) => {
  event.target.closest(".live")?.classList.remove("connected");
});
// "Select all" checkboxes (data-select-all="<name>"): tick or untick every box of that name in the
// same table. A listener here, not an onclick attribute: the Content-Security-Policy forbids inline script.
document.addEventListener("change", (event) => {
  const all = event.target.closest("input[data-select-all]");
  if (!all) return;
  all.closest("table").querySelectorAll(`input[name="${all.dataset.selectAll}"]`).forEach((box) => {
    box.checked = all.checked;
  });
});
