// Home page: say that the first game of a model takes a moment (the unit's harvest is made on first use).
"use strict";
document.getElementById("start-form")?.addEventListener("submit", () => {
  const note = document.getElementById("preparing");
  if (note) note.hidden = false;
});
