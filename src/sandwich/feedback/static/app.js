// The only script of the app: the confidence read-out, the item timer, and a
// submit button that cannot be clicked twice (the server stores a label once anyway).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const slider = document.getElementById("confidence");
  const out = document.getElementById("confidence-value");
  if (slider && out) {
    const show = () => { out.textContent = slider.value; };
    slider.addEventListener("input", show);
    show();
  }
  const timer = document.getElementById("timer");
  if (timer) {
    const limit = Number(timer.dataset.limit);
    const start = Date.now();
    const tick = () => {
      const left = Math.round(limit - (Date.now() - start) / 1000);
      timer.textContent = left > 0 ? `${left} s left` : "time is up: please answer now";
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
