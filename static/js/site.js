// Our own small behaviours; htmx and its extensions come from the django-htmx package.
// The words shown here come from the page (data-text-* on <body>, rendered by templates/base.html in the
// page's language), so this file has no text of its own to translate.
const pageText = (name) => document.body.dataset[`text${name}`] ?? "";
// Marks live areas as connected or not, so people can tell a quiet page from a dead socket.
document.addEventListener("htmx:wsOpen", (event) => {
  event.target.closest(".live")?.classList.add("connected");
});
// 4403: the server ended the socket because the right to it ended (logged out, deactivated, password
// or permissions changed). The extension does not reconnect after it; say so instead of looking idle.
// 4429: the account already holds as many live connections as it may (every tab and script counts);
// the extension does not reconnect after it either.
const SIGNED_OUT = 4403;
const TOO_MANY = 4429;
document.addEventListener("htmx:wsClose", (event) => {
  const live = event.target.closest(".live");
  live?.classList.remove("connected");
  if (live && event.detail?.event?.code === TOO_MANY && !live.querySelector(".live-signed-out")) {
    const notice = document.createElement("p");
    notice.className = "live-signed-out";
    notice.setAttribute("role", "alert");
    notice.textContent = pageText("TooMany");
    live.prepend(notice);
    return;
  }
  if (!live || event.detail?.event?.code !== SIGNED_OUT || live.querySelector(".live-signed-out")) return;
  live.classList.add("signed-out");
  const notice = document.createElement("p");
  notice.className = "live-signed-out";
  notice.setAttribute("role", "alert");
  const login = document.createElement("a");
  login.href = `${document.body.dataset.loginUrl}?next=${encodeURIComponent(location.pathname + location.search)}`;
  login.textContent = pageText("LogInAgain");
  notice.append(`${pageText("SignedOut")} `, login);
  live.prepend(notice);
});
// A refusal (403 from site_config/machinery/errors.py) answers an htmx request with its message alone, which htmx
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

// The phone menu: the button stays hidden without JavaScript (the links are then simply listed); with it,
// narrow screens fold the links behind the button (static/css/site.css, .js-nav).
function setUpNavigation() {
  const header = document.querySelector(".site-header");
  const toggle = header?.querySelector(".nav-toggle");
  const menu = header?.querySelector(".nav-menu");
  if (!toggle || !menu) return;
  header.classList.add("js-nav");
  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    menu.classList.toggle("open", open);
  });
}

// The header's drop-downs (<details class="nav-more">) work without JavaScript; with it, opening one
// closes the other, and a click elsewhere or Escape closes them, as people expect of a menu.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.nav-more[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.open = false;
  });
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") document.querySelectorAll("details.nav-more[open]").forEach((menu) => { menu.open = false; });
});

// A live swap replaces folded sections (<details data-keep-open id=...>, e.g. a worker's registered tasks)
// with closed copies; reopen the ones the reader had open, so a poll never folds what they are reading.
let openBeforeSwap = [];
document.addEventListener("htmx:wsBeforeMessage", () => {
  openBeforeSwap = [...document.querySelectorAll("details[data-keep-open][open]")].map((details) => details.id);
});
document.addEventListener("htmx:wsAfterMessage", () => {
  openBeforeSwap.forEach((id) => document.getElementById(id)?.setAttribute("open", ""));
});

// A swap that replaces the element holding the focus (a live push of a row, a refreshed fragment) would
// drop the focus to the top of the page: put it back on the same control in the new copy, found by the
// nearest id around it and its place among that element's controls, so keyboard users keep their place.
const CONTROLS = "a[href], button, input, select, textarea, summary, [tabindex]";
let focusBeforeSwap = null;
function rememberFocus() {
  const active = document.activeElement;
  const holder = active && active !== document.body ? active.closest("[id]") : null;
  focusBeforeSwap = holder && { id: holder.id, index: [...holder.querySelectorAll(CONTROLS)].indexOf(active) };
}
function restoreFocus() {
  if (!focusBeforeSwap || (document.activeElement && document.activeElement !== document.body)) return;
  const holder = document.getElementById(focusBeforeSwap.id);
  const target = focusBeforeSwap.index >= 0 ? holder?.querySelectorAll(CONTROLS)[focusBeforeSwap.index] : holder;
  target?.focus({ preventScroll: true });
  focusBeforeSwap = null;
}
["htmx:wsBeforeMessage", "htmx:beforeSwap"].forEach((name) => document.addEventListener(name, rememberFocus));
["htmx:wsAfterMessage", "htmx:afterSettle"].forEach((name) => document.addEventListener(name, restoreFocus));

// A watched task's end is announced: its page keeps a live region (#task-announcer) that pushes never
// replace; when a pushed status section turns a running task final, the region says how it ended. A task
// already final when the page opened is not announced again.
const FINAL_STATES = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
document.addEventListener("htmx:wsAfterMessage", () => {
  const announcer = document.getElementById("task-announcer");
  const status = document.querySelector(".task-status[data-state]");
  if (!announcer || !status) return;
  const before = announcer.dataset.state;
  const now = status.dataset.state;
  announcer.dataset.state = now;
  if (FINAL_STATES.has(now) && !FINAL_STATES.has(before)) {
    const label = status.querySelector(".badge")?.textContent.trim() || now.toLowerCase();
    announcer.textContent = `The task has finished: ${label}.`;
  }
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
    button.textContent = pageText("Copied");
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    button.textContent = pageText("Selected");
  }
  setTimeout(() => { button.textContent = button.dataset.label; }, 3000);
});

// Times: the server writes <time datetime="...Z" data-local="style" title="... UTC"> in the site's zone
// (site_config/templatetags/display.py), the same for every viewer, so a pushed fragment is rendered
// once for all watchers. Here each one is rewritten in the viewer's own zone, zone named, with the UTC
// time kept in the title; "relative" ones read "3 min ago" and are refreshed while the page is open.
const pad = (number) => String(number).padStart(2, "0");
// Dates and weekdays in the page's language ("1 December 2026" in English as the server writes it,
// "2026年12月1日" in Chinese); clock figures stay digits in every language.
const pageLocale = () => (document.documentElement.lang === "en" ? "en-GB" : document.documentElement.lang || "en-GB");

function zonedParts(date) {
  const parts = {};
  new Intl.DateTimeFormat("en-GB", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    hourCycle: "h23", timeZoneName: "short",
  }).formatToParts(date).forEach(({ type, value }) => { parts[type] = value; });
  return parts;
}

function localText(date, style) {
  if (style === "date") {
    return new Intl.DateTimeFormat(pageLocale(), { day: "numeric", month: "long", year: "numeric" }).format(date);
  }
  const p = zonedParts(date);
  const day = `${p.year}-${p.month}-${p.day}`;
  const clock = `${p.hour}:${p.minute}`;
  const zone = p.timeZoneName;
  if (style === "minute") return `${clock} ${zone}`;
  if (style === "clock") return clock;  // chart ticks: the zone is the page's, named by its other times
  if (style === "weekday-clock") {
    return `${new Intl.DateTimeFormat(pageLocale(), { weekday: "short" }).format(date)} ${clock}`;
  }
  if (style === "time") return `${clock}:${p.second} ${zone}`;
  if (style === "precise") return `${day} ${clock}:${p.second}.${String(date.getMilliseconds()).padStart(3, "0")} ${zone}`;
  return `${day} ${clock}:${p.second} ${zone}`;
}

function utcText(date) {
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} `
    + `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} UTC`;
}

function relativeText(date, now) {
  const seconds = Math.round((now - date) / 1000);
  const ahead = seconds < 0;
  const span = Math.abs(seconds);
  const [secondsUnit, minutesUnit, hoursUnit, daysUnit] = pageText("Units").split("|");
  let words;
  if (span < 10) return pageText("JustNow");
  if (span < 60) words = `${span} ${secondsUnit}`;
  else if (span < 3600) words = `${Math.floor(span / 60)} ${minutesUnit}`;
  else if (span < 86400) words = `${Math.floor(span / 3600)} ${hoursUnit}`;
  else words = `${Math.floor(span / 86400)} ${daysUnit}`;
  return (ahead ? pageText("Ahead") : pageText("Ago")).replace("{time}", words);
}

function localiseTimes(root = document) {
  const now = Date.now();
  root.querySelectorAll("time[data-local][datetime], text[data-local][data-at]").forEach((element) => {
    const date = new Date(element.getAttribute("datetime") || element.dataset.at);
    if (Number.isNaN(date.getTime())) return;
    const style = element.dataset.local;
    if (element.tagName.toLowerCase() === "text") {  // an SVG chart's tick: no title attribute there
      element.textContent = localText(date, style);
    } else if (style === "relative") {
      element.textContent = relativeText(date, now);
      element.title = `${localText(date, "datetime")} (${utcText(date)})`;
    } else {
      element.textContent = localText(date, style);
      element.title = utcText(date);
    }
    element.dataset.localised = "";
  });
}

// Every way new HTML arrives: a page load, an htmx swap (also out-of-band) and a websocket push.
["htmx:afterSwap", "htmx:oobAfterSwap", "htmx:wsAfterMessage", "htmx:afterSettle"].forEach((name) => {
  document.addEventListener(name, () => localiseTimes());
});
const RELATIVE_REFRESH_MS = 15_000;

function start() {
  setUpNavigation();
  localiseTimes();
  setInterval(() => localiseTimes(), RELATIVE_REFRESH_MS);
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
