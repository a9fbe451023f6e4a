// Progressive enhancement for the movierec pages: everything works without this script.
// 1. Rating forms marked data-live save without a page reload.
// 2. The "For you" list refreshes itself while the page is visible.
"use strict";

function liveRatingForms() {
  for (const form of document.querySelectorAll("form[data-live]")) {
    const status = form.querySelector(".status");
    const send = async (button) => {
      const body = new FormData(form);
      if (button && button.name) body.set(button.name, button.value);
      const response = await fetch(form.action, {
        method: "POST", body, headers: { "Accept": "application/json" }, credentials: "same-origin",
      });
      const answer = await response.json().catch(() => null);
      if (!status) return;
      if (!response.ok) {
        status.textContent = answer && answer.error ? answer.error.message : "Could not save.";
      } else if (answer.rating === null) {
        status.textContent = "Rating removed.";
        for (const radio of form.querySelectorAll("input[type=radio]")) radio.checked = false;
      } else {
        status.textContent = "Saved: " + answer.rating + " stars.";
      }
    };
    // One save at a time, in order: arrowing through the stars must end on the last one.
    let saving = Promise.resolve();
    const queue = (button) => { saving = saving.then(() => send(button)).catch(() => {}); };
    form.addEventListener("submit", (event) => { event.preventDefault(); queue(event.submitter); });
    for (const radio of form.querySelectorAll("input[type=radio]")) {
      radio.addEventListener("change", () => queue(null));
    }
  }
}

function refreshingForYou() {
  const box = document.getElementById("for-you");
  if (!box) return;
  const render = (answer) => {
    const source = box.querySelector(".source");
    source.textContent = "";
    source.append("Source: ");
    const strong = document.createElement("strong");
    strong.textContent = answer.source;
    source.append(strong);
    if (answer.model_version) source.append(", model version " + answer.model_version);
    if (answer.cached) source.append(" (cached)");
    const list = box.querySelector("ol.movies");
    list.replaceChildren(...answer.items.map((item) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "/movies/" + encodeURIComponent(item.movie_id);
      a.textContent = item.title || item.movie_id;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = item.score.toFixed(2);
      li.append(a, score);
      if (item.why) {
        const why = document.createElement("small");
        why.className = "why";
        why.textContent = item.why;
        li.append(" ", why);
      }
      return li;
    }));
  };
  let last = null;
  const poll = async () => {
    if (document.visibilityState === "visible") {
      const response = await fetch(box.dataset.refresh, { headers: { "Accept": "application/json" } });
      if (response.ok) {
        const answer = await response.json();
        const key = JSON.stringify([answer.source, answer.model_version, answer.items.map((i) => i.movie_id)]);
        if (key !== last) render(answer);
        last = key;
      }
    }
    setTimeout(poll, 1000);
  };
  poll();
}

document.addEventListener("DOMContentLoaded", () => { liveRatingForms(); refreshingForYou(); });
