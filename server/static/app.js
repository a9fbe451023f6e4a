// Progressive enhancement for the movierec pages: everything works without this script.
// 1. Rating forms marked data-live save without a page reload, once per settled choice.
// 2. The top row of "For you" refreshes itself while the page is visible.
// 3. A copy button copies a new token.
"use strict";

// Arrowing through the stars changes the choice at every step; save only once it settles.
const SETTLE_MS = 600;

function starWords(stars) {
  return stars + (stars === 1 ? " star" : " stars");
}

function showAverage(average) {
  const line = document.querySelector("[data-average-line]");
  if (!line || !average) return;
  if (!average.count) {
    line.textContent = "No ratings yet";
    return;
  }
  const star = document.createElement("span");
  star.setAttribute("aria-hidden", "true");
  star.textContent = "★";
  const words = " " + average.mean.toFixed(1) + " average from " + average.count + (average.count === 1 ? " rating" : " ratings");
  line.replaceChildren(star, words);
}

function liveRatingForms() {
  for (const form of document.querySelectorAll("form[data-live]")) {
    form.classList.add("live");  // the stars save by themselves: the "Rate" button goes away
    const status = form.querySelector(".status");
    const send = async (button) => {
      const body = new FormData(form);
      if (button && button.name) body.set(button.name, button.value);
      const response = await fetch(form.getAttribute("action"), {
        method: "POST", body, headers: { "Accept": "application/json" }, credentials: "same-origin",
      });
      const answer = await response.json().catch(() => null);
      if (!status) return;
      if (!response.ok) {
        status.textContent = answer && answer.error ? answer.error.message : "Could not save.";
        return;
      }
      showAverage(answer.average);
      const remove = form.querySelector("[name=remove]");
      if (remove) remove.hidden = answer.rating === null;  // only a rating can be removed
      if (answer.rating === null) {
        status.textContent = "Rating removed.";
        for (const radio of form.querySelectorAll("input[type=radio]")) radio.checked = false;
      } else {
        status.textContent = "Saved: " + starWords(answer.rating) + ".";
      }
    };
    // One save at a time, in order.
    let saving = Promise.resolve();
    const queue = (button) => { saving = saving.then(() => send(button)).catch(() => {}); };
    let timer = null;
    const settle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => { timer = null; queue(null); }, SETTLE_MS);
    };
    const flush = () => { if (timer !== null) { clearTimeout(timer); timer = null; queue(null); } };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(timer);
      timer = null;
      queue(event.submitter);
    });
    for (const choice of form.querySelectorAll("input[type=radio], select")) {
      choice.addEventListener("change", settle);
    }
    // Leaving the stars (Tab, a click elsewhere) or the page saves a pending choice at once.
    form.addEventListener("focusout", (event) => { if (!form.contains(event.relatedTarget)) flush(); });
    window.addEventListener("pagehide", flush);
  }
}

function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    const status = document.querySelector(`[data-copy-status="${button.dataset.copy}"]`);
    button.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        if (status) status.textContent = "Copied.";
      } catch {
        if (status) status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
      }
    });
  }
}

// A card folded into its undo line keeps the row still for a while: the refreshed row would
// take the undo away (and the keyboard focus on it) the moment the worker drops the movie.
const UNDO_MS = 10000;

function undoPending(row) {
  return [...row.querySelectorAll(".movie-card.dismissed")]
    .some((card) => Date.now() - Number(card.dataset.dismissedAt) < UNDO_MS);
}

function refreshingTopPicks() {
  const box = document.getElementById("for-you");
  if (!box) return;
  const poll = async () => {
    if (document.visibilityState === "visible") {
      const response = await fetch(box.dataset.refresh, { headers: { "Accept": "text/html" } });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("section.row");
        const shown = box.querySelector("#top-picks");
        if (fresh && shown && fresh.dataset.key !== shown.dataset.key && !undoPending(shown)) {
          shown.replaceWith(document.importNode(fresh, true));
        } else if (fresh && !shown) {
          box.prepend(document.importNode(fresh, true));
        }
      }
    }
    setTimeout(poll, 1000);
  };
  poll();
}

document.addEventListener("DOMContentLoaded", () => { liveRatingForms(); copyButtons(); refreshingTopPicks(); });

// A card's "Watchlist" and "Not interested" buttons, sent in place (the forms work without this:
// the page reloads). "Not interested" folds the card into an undo line.
function feedbackButtons() {
  const send = async (form) => {
    const response = await fetch(form.getAttribute("action"), {
      method: "POST", body: new FormData(form), headers: { "Accept": "application/json" },
    });
    return response.ok;
  };
  const flip = (form, label) => {
    const action = form.querySelector("input[name=change]");
    action.value = action.value === "add" ? "remove" : "add";
    const button = form.querySelector("button");
    button.textContent = label;
    button.setAttribute("aria-label", `${label}: ${button.getAttribute("aria-label").split(": ").slice(1).join(": ")}`);
    if (button.hasAttribute("aria-pressed")) button.setAttribute("aria-pressed", String(action.value === "remove"));
  };
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-feedback]");
    if (!form) return;
    event.preventDefault();
    const adding = form.querySelector("input[name=change]").value === "add";
    if (!(await send(form))) { form.submit(); return; }  // let the page say what went wrong
    if (form.dataset.feedback === "watchlist") {
      flip(form, adding ? "On your watchlist" : "+ Watchlist");
      return;
    }
    const card = form.closest(".movie-card");
    if (!adding || !card) { flip(form, adding ? "Undo not interested" : "Not interested"); return; }
    flip(form, "Undo not interested");  // the form now takes it back
    const title = card.querySelector(".card-title").textContent.trim();
    const undo = document.createElement("p");
    undo.className = "undo";
    undo.setAttribute("role", "status");
    undo.textContent = `You won't see ${title} again. `;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Undo";
    button.addEventListener("click", async () => {
      if (await send(form)) {
        flip(form, "Not interested");
        undo.remove();
        card.classList.remove("dismissed");
      }
    });
    undo.append(button);
    card.append(undo);
    card.dataset.dismissedAt = String(Date.now());
    card.classList.add("dismissed");
    button.focus();
  });
}

document.addEventListener("DOMContentLoaded", feedbackButtons);
