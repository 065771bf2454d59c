// Our own small behaviours; htmx and its extensions come from the django-htmx package.
// Marks live areas as connected or not, so people can tell a quiet page from a dead socket.
document.addEventListener("htmx:wsOpen", (event) => {
  event.target.closest(".live")?.classList.add("connected");
});
// 4403: the server ended the socket because the right to it ended (logged out, deactivated, password
// or permissions changed). The extension does not reconnect after it; say so instead of looking idle.
const SIGNED_OUT = 4403;
document.addEventListener("htmx:wsClose", (event) => {
  const live = event.target.closest(".live");
  live?.classList.remove("connected");
  if (!live || event.detail?.event?.code !== SIGNED_OUT || live.querySelector(".live-signed-out")) return;
  live.classList.add("signed-out");
  const notice = document.createElement("p");
  notice.className = "live-signed-out";
  notice.setAttribute("role", "alert");
  const login = document.createElement("a");
  login.href = `${document.body.dataset.loginUrl}?next=${encodeURIComponent(location.pathname + location.search)}`;
  login.textContent = "Log in again";
  notice.append("Live updates stopped: signed out. ", login);
  live.prepend(notice);
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
