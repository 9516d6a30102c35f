// Share links: show them as full URLs and copy them with one tap (the daily page, the shared page).
"use strict";

document.querySelectorAll("input.share-url").forEach((input) => {
  if (input.dataset.path) input.value = new URL(input.dataset.path, window.location.origin).href;
});

document.querySelectorAll("button.copy").forEach((button) => {
  button.addEventListener("click", async () => {
    const input = document.getElementById(button.dataset.copy);
    const status = document.getElementById("copy-status");
    try {
      await navigator.clipboard.writeText(input.value);
      status.textContent = "Link copied.";
    } catch {
      input.select(); // no clipboard permission (e.g. plain http): leave it selected to copy by hand
      status.textContent = "Press Ctrl+C (or ⌘C) to copy the selected link.";
    }
  });
});
