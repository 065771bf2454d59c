// Our own small behaviours; htmx and its extensions come from the django-htmx package.
// Marks live areas as connected or not, so people can tell a quiet page from a dead socket.
document.addEventListener("htmx:wsOpen", (event) => {
  event.target.closest(".live")?.classList.add("connected");
});
document.addEventListener("htmx:wsClose", (event) => {
  event.target.closest(".live")?.classList.remove("connected");
});
// htmx does not swap error answers: show a refusal's message (site_config/errors.py) above the page.
document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  if (xhr.status !== 403) return;
  const answer = new DOMParser().parseFromString(xhr.responseText, "text/html");
  const notice = document.createElement("p");
  notice.className = "message error refusal";
  notice.setAttribute("role", "alert");
  notice.textContent = answer.querySelector(".refusal")?.textContent || "You do not have permission to do that.";
  document.getElementById("refusals")?.replaceChildren(notice);
});
