// The only script of the app: the item countdown (from the server's count of the
// seconds left, so a reload does not restart it) and a submit button that cannot
// be clicked twice (the server stores a label once anyway).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const timer = document.getElementById("timer");
  if (timer) {
    const left0 = Number(timer.dataset.left ?? timer.dataset.limit);
    const enforced = timer.dataset.enforced === "1";
    const start = Date.now();
    const tick = () => {
      const left = Math.round(left0 - (Date.now() - start) / 1000);
      timer.textContent = left > 0 ? `${left} s left`
        : enforced ? "time is up: an answer now is recorded as late and does not count"
        : "time is up: please answer now";
      timer.classList.toggle("late", left <= 0);
    };
    tick();
    setInterval(tick, 1000);
  }
  const form = document.getElementById("answer-form");
  if (form) {
    form.addEventListener("submit", () => {
      const button = document.getElementById("submit");
      setTimeout(() => { button.disabled = true; }, 0);
    });
  }
});
