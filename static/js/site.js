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
// A refusal (403 from site_config/errors.py) answers an htmx request with its message alone, which htmx
// does not swap (an error answer): show it above the page instead. Captured on window, before anything
// else sees the answer (django-htmx's debug helper, on with DEBUG, would replace the whole page with it).
window.addEventListener("htmx:beforeOnLoad", (event) => {
  const xhr = event.detail.xhr;
  if (xhr.status !== 403) return;
  const refusal = new DOMParser().parseFromString(xhr.responseText, "text/html").querySelector(".refusal");
  if (!refusal) return;
  event.stopPropagation();
  const notice = document.createElement("p");
  notice.className = "message error refusal";
  notice.setAttribute("role", "alert");
  notice.textContent = refusal.textContent;
  document.getElementById("refusals")?.replaceChildren(notice);
}, true);

// "Select all" checkboxes (data-select-all="<name>"): tick or untick every box of that name in the
// same table. A listener here, not an onclick attribute: the Content-Security-Policy forbids inline script.
document.addEventListener("change", (event) => {
  const all = event.target.closest("input[data-select-all]");
  if (!all) return;
  all.closest("table").querySelectorAll(`input[name="${all.dataset.selectAll}"]`).forEach((box) => {
    box.checked = all.checked;
  });
});

// Copy buttons (data-copy="<id of the element whose text to copy>"): the task id, a traceback. Where the
// clipboard is refused (plain http, a denied permission), select the text instead, so Ctrl+C copies it.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  const source = button && document.getElementById(button.dataset.copy);
  if (!source) return;
  button.dataset.label ??= button.textContent;
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.textContent = button.dataset.label; }, 3000);
});
