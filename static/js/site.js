// Our own small behaviours; htmx and its extensions come from the django-htmx package.
// Marks live areas as connected or not, so people can tell a quiet page from a dead socket.
document.addEventListener("htmx:wsOpen", (event) => {
  event.target.closest(".live")?.classList.add("connected");
});
document.addEventListener("htmx:wsClose", (event) => {
  event.target.closest(".live")?.classList.remove("connected");
});
