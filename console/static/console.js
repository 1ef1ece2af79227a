// The console's only script: polls the conversation and the new-ticket count.
// Text is always inserted with textContent: what a person typed is never parsed as HTML.
"use strict";

function pollConversation(section) {
  const list = document.getElementById("chat");
  const state = document.getElementById("handoff-state");
  if (!list) return;
  let shown = -1;
  async function refresh() {
    try {
      const reply = await fetch(section.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (reply.status === 401) { window.location.reload(); return; }
      const data = await reply.json();
      if (!reply.ok) { state.textContent = list.dataset.errorText; return; }
      state.textContent = data.paused ? list.dataset.pausedText : list.dataset.liveText;
      state.dataset.paused = data.paused ? "yes" : "no";
      const takeOver = document.querySelector("#take-over button");
      const handBack = document.querySelector("#hand-back button");
      if (takeOver) takeOver.disabled = data.paused;
      if (handBack) handBack.disabled = !data.paused;
      if (data.lines.length === shown) return;
      shown = data.lines.length;
      list.replaceChildren(...data.lines.map((line) => {
        const item = document.createElement("li");
        item.className = line.who;
        const label = document.createElement("small");
        label.textContent = line.label + " · " + new Date(line.at * 1000).toLocaleTimeString();
        const text = document.createElement("span");
        text.textContent = line.text;
        item.append(label, text);
        return item;
      }));
      list.scrollTop = list.scrollHeight;
    } catch (error) {
      state.textContent = list.dataset.errorText;
    }
  }
  refresh();
  setInterval(refresh, 2000);
}

function pollNotifications(badge) {
  async function refresh() {
    try {
      const reply = await fetch(badge.dataset.url, { credentials: "same-origin" });
      if (!reply.ok) return;
      const data = await reply.json();
      badge.textContent = data.text;
      badge.hidden = !data.new_tickets;
    } catch (error) { /* offline for a moment: try again at the next tick */ }
  }
  refresh();
  setInterval(refresh, 30000);
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("conversation");
  if (section && section.dataset.url) pollConversation(section);
  const badge = document.getElementById("notifications");
  if (badge) pollNotifications(badge);
});
