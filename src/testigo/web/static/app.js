// Small conveniences shared by every page (no inline script is allowed by the page's policy).
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const button = form.querySelector("button[type=submit]");
  if (button) window.setTimeout(() => { button.disabled = true; }, 0);
});
