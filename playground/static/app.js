// The playground's page: polls /api/state every second and renders the Discord stand-in's
// records; the command bar, buttons and forms call the playground's API. No build step.
"use strict";

const $ = (id) => document.getElementById(id);
let state = null;
let userId = null;
let channelId = null;
let openModal = null;
// Discord locales: the member's client (`interaction.locale`) and the server's (`guild_locale`).
const LOCALES = { "en-US": "English", "es-ES": "Español", "es-419": "Español (LATAM)", "pt-BR": "Português do Brasil", de: "Deutsch", fr: "Français", ja: "日本語", ko: "한국어 (no catalog: English)" };
let memberLocale = "en-US";
const rendered = new Map(); // message id -> JSON it was drawn from (keeps audio players)

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// Discord markdown, small: escape first, then mentions, code, bold, italics, links.
function markdown(text) {
  const names = state ? state.names : {};
  let html = esc(text);
  html = html.replace(/`([^`]+)`/g, "<code>$1</code>");
  html = html.replace(/&lt;@!?(\d+)&gt;/g, (_, id) => `<span class="mention">@${esc(names[id] || id)}</span>`);
  html = html.replace(/&lt;@&amp;(\d+)&gt;/g, (_, id) => `<span class="mention">@${esc(names["&" + id] || "role")}</span>`);
  html = html.replace(/&lt;#(\d+)&gt;/g, (_, id) => `<span class="mention">#${esc(names["#" + id] || id)}</span>`);
  html = html.replace(/&lt;t:(\d+)(:\w)?&gt;/g, (_, t) => esc(new Date(Number(t) * 1000).toLocaleString()));
  html = html.replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>");
  html = html.replace(/__(.+?)__/g, "<u>$1</u>");
  html = html.replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<em>$2</em>");
  html = html.replace(/~~(.+?)~~/g, "<s>$1</s>");
  html = html.replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener">$1</a>');
  html = html.replace(/^-# (.*)$/gm, '<span class="note">$1</span>');
  html = html.replace(/^### (.*)$/gm, "<strong>$1</strong>").replace(/^## (.*)$/gm, "<strong>$1</strong>");
  return html;
}

function safeUrl(url) {
  return /^https?:\/\//.test(url || "") ? esc(url) : "";
}

function renderEmbed(e) {
  const colour = e.color != null ? `#${Number(e.color).toString(16).padStart(6, "0")}` : "#1e1f22";
  const fields = (e.fields || []).map((f) => `<div class="field${f.inline ? "" : " wide"}">
      <div class="field-name">${markdown(f.name)}</div><div class="content">${markdown(f.value)}</div></div>`).join("");
  const image = e.image && safeUrl(e.image.url) ? `<img src="${safeUrl(e.image.url)}" alt="embed image">` : "";
  const thumb = e.thumbnail && safeUrl(e.thumbnail.url) ? `<img src="${safeUrl(e.thumbnail.url)}" alt="thumbnail">` : "";
  return `<div class="embed" style="border-left-color:${colour}">
    ${e.author ? `<div class="meta">${esc(e.author.name)}</div>` : ""}
    ${e.title ? `<div class="title">${markdown(e.title)}</div>` : ""}
    ${e.description ? `<div class="content">${markdown(e.description)}</div>` : ""}
    ${fields ? `<div class="fields">${fields}</div>` : ""}${thumb}${image}
    ${e.footer ? `<div class="footer">${esc(e.footer.text)}</div>` : ""}</div>`;
}

function renderAttachment(a) {
  const url = safeUrl(a.url);
  const type = a.content_type || "";
  if (type.startsWith("audio/") || /\.(mp3|wav|ogg|flac|m4a)$/i.test(a.filename)) {
    return `<div class="attachment"><div class="meta">${esc(a.filename)}</div><audio controls preload="none" src="${url}"></audio></div>`;
  }
  if (type.startsWith("image/")) {
    return `<div class="attachment"><img src="${url}" alt="${esc(a.filename)}"></div>`;
  }
  return `<div class="attachment"><a href="${url}" target="_blank" rel="noopener">${esc(a.filename)}</a></div>`;
}

// Components: action rows and Components V2 containers alike, drawn recursively.
function renderComponent(c, messageId) {
  switch (c.type) {
    case 1: return `<div class="components">${(c.components || []).map((x) => renderComponent(x, messageId)).join("")}</div>`;
    case 2:
      if (c.style === 5) return `<a class="link" href="${safeUrl(c.url)}" target="_blank" rel="noopener">${esc(c.label)}</a>`;
      return `<button type="button" class="style-${c.style}" data-message="${messageId}" data-custom="${esc(c.custom_id)}"${c.disabled ? " disabled" : ""}>${esc(c.emoji ? (c.emoji.name || "") + " " : "")}${esc(c.label || "")}</button>`;
    case 3: return `<select class="menu" data-message="${messageId}" data-select="${esc(c.custom_id)}" aria-label="${esc(c.placeholder || "menu")}"${c.max_values > 1 ? " multiple" : ""}${c.disabled ? " disabled" : ""}><option value="">${esc(c.placeholder || "")}</option>${(c.options || []).map((o) => `<option value="${esc(o.value)}">${esc(o.label)}</option>`).join("")}</select>`;
    case 9: return `<div>${(c.components || []).map((x) => renderComponent(x, messageId)).join("")}${c.accessory ? renderComponent(c.accessory, messageId) : ""}</div>`;
    case 10: return `<div class="content">${markdown(c.content)}</div>`;
    case 11: return c.media && safeUrl(c.media.url) ? `<img src="${safeUrl(c.media.url)}" alt="thumbnail">` : "";
    case 12: return (c.items || []).map((i) => (i.media && safeUrl(i.media.url) ? `<img src="${safeUrl(i.media.url)}" alt="media">` : "")).join("");
    case 14: return "<hr>";
    case 17: return `<div class="container">${(c.components || []).map((x) => renderComponent(x, messageId)).join("")}</div>`;
    default: return "";
  }
}

function renderMessage(m, byId) {
  const parent = m.reply_to && byId.get(m.reply_to);
  const reply = m.reply_to ? `<div class="reply">↪ replying to ${parent ? esc(parent.author) + ": " + esc((parent.content || (parent.embeds[0] || {}).title || "").slice(0, 60)) : "a message"}</div>` : "";
  return `${reply}<div><span class="author">${esc(m.author)}</span>${m.bot ? '<span class="bot-tag">APP</span>' : ""}
    ${m.ephemeral ? '<span class="meta">Only you can see this</span>' : ""}${m.edited ? '<span class="meta"> (edited)</span>' : ""}
    ${m.ephemeral ? "" : appsMenu(m.id)}</div>
    ${m.content ? `<div class="content">${markdown(m.content)}</div>` : ""}
    ${m.embeds.map(renderEmbed).join("")}
    ${m.attachments.map(renderAttachment).join("")}
    ${m.components.map((c) => renderComponent(c, m.id)).join("")}
    ${m.thread_id ? `<div class="meta"><a href="#" data-thread="${m.thread_id}">open thread</a></div>` : ""}`;
}

// Discord's message menu (right click → Apps), as a select on each message.
function appsMenu(messageId) {
  const names = state.message_commands || [];
  if (!names.length) return "";
  return `<select class="apps" data-apps="${messageId}" aria-label="Apps"><option value="">Apps…</option>${names.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join("")}</select>`;
}

function renderMessages() {
  const box = $("messages");
  const byId = new Map(state.messages.map((m) => [m.id, m]));
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  for (const [id, el] of [...rendered.keys()].map((k) => [k, document.getElementById("m" + k)])) {
    if (!byId.has(id)) { if (el) el.remove(); rendered.delete(id); }
  }
  let previous = null;
  for (const m of state.messages) {
    const json = JSON.stringify(m);
    let el = document.getElementById("m" + m.id);
    if (!el) {
      el = document.createElement("div");
      el.id = "m" + m.id;
      if (previous) previous.after(el); else box.prepend(el);
    }
    if (rendered.get(m.id) !== json) {
      el.className = "message" + (m.ephemeral ? " ephemeral" : "");
      el.dataset.id = m.id;
      el.innerHTML = renderMessage(m, byId);
      rendered.set(m.id, json);
    }
    previous = el;
  }
  if (atBottom) box.scrollTop = box.scrollHeight;
  // An empty channel says what to try first.
  const here = state.channels.find((c) => c.id === channelId);
  $("welcome").hidden = state.messages.length > 0 || !here || here.kind !== "text";
}

function renderSidebar() {
  const member = $("member");
  if (!member.options.length) {
    for (const u of state.users) member.add(new Option(`${u.name}${u.note ? " (" + u.note + ")" : ""}`, u.id));
    member.value = userId;
    for (const id of ["member-locale", "guild-locale"]) {
      for (const [code, name] of Object.entries(LOCALES)) $(id).add(new Option(name, code));
    }
    $("member-locale").value = memberLocale;
  }
  if (document.activeElement !== $("guild-locale")) $("guild-locale").value = state.guild_locale;
  const list = $("channels");
  list.innerHTML = state.channels.map((c) => `<li data-channel="${c.id}" class="${c.kind}${c.id === channelId ? " active" : ""}">${c.kind === "text" ? "#" : c.kind === "thread" ? "↳ " : "✉ "}${esc(c.name)}</li>`).join("");
  const here = state.channels.find((c) => c.id === channelId);
  $("channel-title").textContent = here ? (here.kind === "dm" ? here.name : "#" + here.name) : "";
  const mg = state.musicgpt;
  if (document.activeElement !== $("mg-delay")) $("mg-delay").value = mg.delay;
  $("mg-webhooks").checked = mg.webhooks_enabled;
  $("mg-sent").textContent = mg.webhooks_sent;
  $("mg-note").textContent = mg.fail_next ? `${mg.fail_next} task(s) will fail` : "";
}

function renderCommands() {
  const select = $("command");
  if (select.options.length === state.commands.length) return;
  const current = select.value;
  select.innerHTML = state.commands.map((c) => `<option value="${esc(c.name)}">/${esc(c.name)}</option>`).join("");
  if (current) select.value = current;
  renderOptions();
}

function renderOptions() {
  const command = state.commands.find((c) => c.name === $("command").value);
  $("options").innerHTML = !command ? "" : command.options.map((o) => {
    const label = `${esc(o.name)}${o.required ? " *" : ""}`;
    let input;
    if (o.choices.length) {
      input = `<select name="${esc(o.name)}">${o.required ? "" : '<option value=""></option>'}${o.choices.map((c) => `<option value="${esc(c.value)}">${esc(c.name)}</option>`).join("")}</select>`;
    } else if (o.type === "attachment") {
      input = `<input type="file" name="${esc(o.name)}">`;
    } else if (o.type === "boolean") {
      input = `<select name="${esc(o.name)}"><option value=""></option><option value="true">true</option><option value="false">false</option></select>`;
    } else if (o.type === "integer" || o.type === "number") {
      input = `<input type="number" step="${o.type === "integer" ? 1 : "any"}" name="${esc(o.name)}">`;
    } else if (o.type === "user") {
      input = `<select name="${esc(o.name)}"><option value=""></option>${state.users.map((u) => `<option value="${u.id}">${esc(u.name)}</option>`).join("")}</select>`;
    } else {
      input = `<input type="text" name="${esc(o.name)}">`;
    }
    return `<label title="${esc(o.description)}">${label}${input}</label>`;
  }).join("");
}

// Every request is JSON (the server refuses anything else: no cross-site form can post here).
async function post(path, body) {
  body = { locale: memberLocale, ...body }; // what the member's client would say
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const answer = await response.json();
  if (response.status === 200 && !("ok" in answer)) answer.ok = true;
  return answer;
}

// A file as JSON: its name and its bytes in base64.
function encoded(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ name: file.name, data: String(reader.result).split(",")[1] || "" });
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function api(path, body) {
  const answer = await post(path, body);
  notice(answer.ok ? (answer.note || "") : answer.error);
  if (answer.modal) showModal(answer.modal);
  refresh();
  return answer;
}

function notice(text) { $("notice").textContent = text || ""; }

async function runCommand(event) {
  event.preventDefault();
  const command = state.commands.find((c) => c.name === $("command").value);
  if (!command) return;
  const options = {};
  for (const o of command.options) {
    const input = $("options").querySelector(`[name="${CSS.escape(o.name)}"]`);
    if (o.type === "attachment") {
      if (!input.files.length) continue;
      const uploaded = await post("/api/upload", { files: [await encoded(input.files[0])] });
      if (!uploaded.ok) { notice(uploaded.error); return; }
      options[o.name] = uploaded.id;
    } else if (input.value !== "") {
      const v = input.value;
      options[o.name] = o.type === "integer" ? parseInt(v, 10) : o.type === "number" ? Number(v) : o.type === "boolean" ? v === "true" : v;
    }
  }
  notice("running /" + command.name + "…");
  await api("/api/command", { name: command.name, options, user_id: userId, channel_id: channelId });
}

function showModal(modal) {
  openModal = modal;
  $("modal-title").textContent = modal.title;
  $("modal-fields").innerHTML = modal.fields.map((f) => {
    const label = `${esc(f.label || f.custom_id)}${f.required ? " *" : ""}`;
    if (f.type === 3) {
      const multiple = f.max_values > 1 ? " multiple" : "";
      return `<label>${label}<select name="${esc(f.custom_id)}"${multiple}>${f.required && !f.placeholder ? "" : `<option value="">${esc(f.placeholder || "")}</option>`}${(f.options || []).map((o) => `<option value="${esc(o.value)}"${o.default ? " selected" : ""}>${esc(o.label)}</option>`).join("")}</select></label>`;
    }
    const limits = `${f.max_length ? ` maxlength="${f.max_length}"` : ""}${f.required ? " required" : ""}${f.placeholder ? ` placeholder="${esc(f.placeholder)}"` : ""}`;
    return `<label>${label}<textarea name="${esc(f.custom_id)}" rows="2"${limits}>${esc(f.value || "")}</textarea></label>`;
  }).join("");
  $("modal").showModal();
}

async function submitModal(event) {
  event.preventDefault();
  const values = {};
  for (const el of $("modal-fields").querySelectorAll("[name]")) {
    values[el.name] = el.multiple ? [...el.selectedOptions].map((o) => o.value) : el.value;
  }
  const modal = openModal;
  $("modal").close();
  openModal = null;
  notice("sending the form…");
  await api("/api/modal", { interaction_id: modal.interaction_id, user_id: userId, values });
}

async function refresh() {
  const query = new URLSearchParams({ user: userId || "", channel: channelId || "" });
  const response = await fetch("/api/state?" + query);
  state = await response.json();
  if (!userId) userId = state.users[0].id;
  if (!channelId) channelId = state.channels[0].id;
  renderSidebar();
  renderCommands();
  renderMessages();
}

function switchChannel(id) {
  channelId = id;
  for (const el of $("messages").querySelectorAll(".message")) el.remove();
  rendered.clear();
  refresh();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-custom]");
  if (button) {
    notice("clicked " + button.textContent.trim());
    api("/api/click", { message_id: button.dataset.message, custom_id: button.dataset.custom, user_id: userId });
    return;
  }
  const channel = event.target.closest("[data-channel]");
  if (channel) switchChannel(channel.dataset.channel);
  const thread = event.target.closest("[data-thread]");
  if (thread) { event.preventDefault(); switchChannel(thread.dataset.thread); }
});
document.addEventListener("change", (event) => {
  const picker = event.target.closest("select[data-select]");
  if (picker) {
    const values = [...picker.selectedOptions].map((o) => o.value).filter((v) => v !== "");
    if (!values.length) return;
    notice("picked " + [...picker.selectedOptions].map((o) => o.textContent).join(", "));
    api("/api/select", { message_id: picker.dataset.message, custom_id: picker.dataset.select, values, user_id: userId });
    return;
  }
  const menu = event.target.closest("select[data-apps]");
  if (!menu || !menu.value) return;
  const name = menu.value;
  menu.value = "";
  notice("running " + name + "…");
  api("/api/message-command", { name, message_id: menu.dataset.apps, user_id: userId });
});
$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const files = await Promise.all([...$("say-file").files].map(encoded));
  const answer = await post("/api/post", { content: $("say").value, files, channel_id: channelId, user_id: userId });
  notice(answer.ok ? "" : answer.error);
  if (answer.ok) { $("say").value = ""; $("say-file").value = ""; }
  refresh();
});
$("member").addEventListener("change", (e) => { userId = e.target.value; switchChannel(state.channels[0].id); });
$("command").addEventListener("change", renderOptions);
$("member-locale").addEventListener("change", (e) => { memberLocale = e.target.value; });
$("guild-locale").addEventListener("change", (e) => api("/api/guild-locale", { guild_locale: e.target.value }));
$("command-bar").addEventListener("submit", runCommand);
$("modal-form").addEventListener("submit", submitModal);
$("modal-cancel").addEventListener("click", () => { $("modal").close(); openModal = null; notice("form closed"); });
$("mg-delay").addEventListener("change", (e) => api("/api/musicgpt", { delay: Number(e.target.value) }));
$("mg-webhooks").addEventListener("change", (e) => api("/api/musicgpt", { webhooks_enabled: e.target.checked }));
$("mg-fail").addEventListener("click", () => api("/api/musicgpt", { fail_next: true }));

refresh();
setInterval(() => { if (!openModal) refresh().catch(() => notice("the playground stopped")); }, 1000);
