// The victims' page (docs/victims.md, "The page"). A victim, or someone helping them, picks images; each is
// hashed here with pdq.js, and only the eight PDQ hashes and the quality of each usable image are sent to this
// node, which answers a case number and a secret. With both, the page shows the case's status and withdraws
// images. All the page ever sends is JSON of hashes, qualities, case numbers and secrets; the secret lives in
// the page's memory and its form fields only, never in storage or in a URL.

import { formatDate } from "./dates.js";
import { pdqDihedralFromImageFile } from "./pdq.js";

const LANGUAGES = ["ar", "en", "es", "fr", "ru", "vi", "zh"];
const RIGHT_TO_LEFT = new Set(["ar"]);
// The node refuses hashes of lower quality (low_quality): they would match unrelated images.
const MIN_QUALITY = 50;
// Images in one case, as the node allows.
const MAX_IMAGES = 100;
// Refusals the page explains in its own words; any other is shown as a general failure, with its code.
const EXPLAINED = new Set([
  "case_not_found_or_wrong_secret", "case_locked", "rate_limited", "bad_case_number", "bad_secret",
  "too_many_images", "network",
]);

const $ = (id) => document.getElementById(id);

const page = {
  language: "en",
  messages: {},
  regions: {}, // ISO 3166 alpha-3 -> alpha-2: Intl.DisplayNames names countries by alpha-2 codes
  images: [], // picked images: {file, name, status, hashes, quality, preview, item, parts}
  created: null, // the case just opened: {number, secret, names}
  access: null, // {number, secret} of the case on screen, kept in memory for withdrawals
  shown: null, // that case's status, as the node answered it
};
// Messages on screen, element -> [key, values], so that a change of language translates them too.
const spoken = new Map();
let hash = null;
let hashing = false;

// --- language

function chooseLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of [asked, ...preferred]) {
    const base = String(tag ?? "").toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

async function loadJson(name) {
  const response = await fetch(new URL(name, import.meta.url), { credentials: "omit" });
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return response.json();
}

async function setLanguage(language) {
  page.messages = await loadJson(`i18n/${language}.json`);
  page.language = language;
  document.documentElement.lang = language;
  document.documentElement.dir = RIGHT_TO_LEFT.has(language) ? "rtl" : "ltr";
  document.title = t("page_title");
  $("language").value = language;
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const [element, [key, values]] of spoken) element.textContent = t(key, values);
  page.images.forEach(renderImage);
  renderCreated();
  renderStatus();
}

async function changeLanguage() {
  const language = $("language").value;
  // Only the language goes in the address, so that a link or bookmark opens the page in it.
  const url = new URL(location.href);
  url.searchParams.set("lang", language);
  history.replaceState(null, "", url);
  await setLanguage(language);
}

// A message in the page's language, its {placeholders} filled; a date is given as {date: "ISO 8601"}.
function t(key, values = {}) {
  const template = page.messages[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => formatted(values[name]));
}

function formatted(value) {
  if (value?.date === undefined) return String(value ?? "");
  return formatDate(value.date, page.language);
}

// A code the node may extend (a status, a category): its translation, or a plain mention of the code.
function translated(prefix, code, values = {}) {
  const key = `${prefix}_${code}`;
  return key in page.messages ? t(key, values) : t("status_other", { code });
}

function say(element, key, values = {}) {
  if (key === null) {
    spoken.delete(element);
    element.textContent = "";
    return;
  }
  spoken.set(element, [key, values]);
  element.textContent = t(key, values);
}

function countryName(alpha3) {
  const alpha2 = page.regions[alpha3];
  if (!alpha2) return alpha3;
  try {
    return new Intl.DisplayNames([page.language], { type: "region" }).of(alpha2) ?? alpha3;
  } catch {
    return alpha3;
  }
}

// --- talking to the node

class Problem extends Error {
  constructor(code, body = {}) {
    super(code);
    this.code = code;
    this.body = body;
  }
}

// A JSON POST to this node's API ("v1/..." resolves under /victims/), without cookies.
async function post(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new Problem("network");
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Problem(answer.code ?? "other", answer);
  return answer;
}

// The message that explains a failure: [key, values].
function explain(problem) {
  const code = problem instanceof Problem ? problem.code : "other";
  if (code === "case_locked") return ["error_case_locked", { time: { date: problem.body.retry_at } }];
  if (EXPLAINED.has(code)) return [`error_${code}`, {}];
  return ["error_other", { code }];
}

// --- hashing

// A module worker keeps the page responsive while it hashes. Where a browser has none, or none that can draw
// (OffscreenCanvas), the image is hashed on the page instead: the same code, the same hashes.
function makeHasher() {
  const waiting = new Map();
  let worker = null;
  let next = 0;
  try {
    worker = new Worker(new URL("./victims-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }) => {
      waiting.get(data.id)?.(data);
      waiting.delete(data.id);
    };
    worker.onerror = () => {
      worker = null;
      for (const settle of waiting.values()) settle({ error: "worker" });
      waiting.clear();
    };
  } catch {
    worker = null;
  }
  return async (file) => {
    if (worker) {
      const id = next++;
      const answer = await new Promise((resolve) => {
        waiting.set(id, resolve);
        worker.postMessage({ id, file });
      });
      if (!answer.error) return answer;
    }
    return pdqDihedralFromImageFile(file);
  };
}

function addFiles() {
  for (const file of $("files").files) addImage(file);
  // Cleared so that choosing the same file again is noticed (it is then shown as already in the list).
  $("files").value = "";
  say($("new-error"), null);
  renderProgress();
  hashWaiting();
}

function addImage(file) {
  const image = { file, name: file.name, status: "waiting", hashes: null, quality: null, preview: null };
  const thumbnail = el("img", { alt: "", hidden: true, className: "thumbnail" });
  const state = el("span");
  const remove = el("button", { type: "button", className: "button small", onclick: () => removeImage(image) });
  image.parts = { thumbnail, state, remove };
  image.item = el("li", {}, thumbnail, el("span", { className: "about" }, el("bdi", { className: "name" }, file.name),
    state), remove);
  $("images").append(image.item);
  page.images.push(image);
  renderImage(image);
}

// One image at a time: progress is simple to follow, and only one decoded image is in memory.
async function hashWaiting() {
  if (hashing) return;
  hashing = true;
  for (let image = nextWaiting(); image; image = nextWaiting()) {
    image.status = "hashing";
    renderImage(image);
    try {
      const { hashes, quality } = await hash(image.file);
      Object.assign(image, { hashes, quality });
    } catch {
      image.status = "unreadable";
    }
    settleImages();
  }
  hashing = false;
}

function nextWaiting() {
  return page.images.find((image) => image.status === "waiting");
}

// Decides, in list order, which hashed images can be sent, and shows every image's state.
function settleImages() {
  const seen = new Set();
  for (const image of page.images) {
    if (image.hashes !== null) image.status = sendable(image, seen);
    renderImage(image);
  }
  renderProgress();
}

// Not an image of low quality, nor a second copy of one already in the list (the first hash is the same).
function sendable(image, seen) {
  if (image.quality < MIN_QUALITY) return "unusable";
  if (seen.has(image.hashes[0])) return "duplicate";
  seen.add(image.hashes[0]);
  return "ready";
}

function removeImage(image) {
  page.images.splice(page.images.indexOf(image), 1);
  dropPreview(image);
  image.item.remove();
  settleImages();
  // The button pressed is gone; choosing images is the next thing to do.
  $("files").focus();
}

function dropPreview(image) {
  if (image.preview) URL.revokeObjectURL(image.preview);
  image.preview = null;
}

function clearImages() {
  page.images.forEach(dropPreview);
  page.images = [];
  $("images").replaceChildren();
  say($("progress"), null);
}

// Previews are off unless asked for: nobody should have to see these images again to send them.
function renderImage(image) {
  const { thumbnail, state, remove } = image.parts;
  const preview = $("previews").checked && image.status !== "unreadable";
  if (preview) {
    image.preview ??= URL.createObjectURL(image.file);
    thumbnail.src = image.preview;
  } else {
    dropPreview(image);
    thumbnail.removeAttribute("src");
  }
  thumbnail.hidden = !preview;
  state.className = `state state-${image.status}`;
  state.textContent = t(`image_${image.status}`);
  remove.textContent = t("remove");
  remove.setAttribute("aria-label", t("remove_label", { name: image.name }));
}

function renderProgress() {
  const total = page.images.length;
  const done = page.images.filter((image) => !["waiting", "hashing"].includes(image.status)).length;
  const ready = page.images.filter((image) => image.status === "ready").length;
  if (total === 0) say($("progress"), null);
  else if (done < total) say($("progress"), "progress_working", { done, total });
  else say($("progress"), "progress_done", { ready, total });
}

// --- opening a case

// What stops the case from being sent, as a message key, or null.
function newCaseProblem(child, ready) {
  if (!child) return "error_no_answer";
  if (page.images.some((image) => ["waiting", "hashing"].includes(image.status))) {
    return "error_still_working";
  }
  if (ready.length === 0) return "error_no_images";
  if (ready.length > MAX_IMAGES) return "error_too_many_images";
  return null;
}

async function sendCase(event) {
  event.preventDefault();
  const child = $("new-case").elements.child.value;
  const ready = page.images.filter((image) => image.status === "ready");
  const problem = newCaseProblem(child, ready);
  if (problem) {
    say($("new-error"), problem);
    return;
  }
  say($("new-error"), null);
  say($("progress"), "sending");
  $("send").disabled = true;
  try {
    const answer = await post("v1/cases", {
      // "Yes, or I think so" makes it a case about a child (Art. 14); the node never lowers that.
      about_a_child: child === "yes",
      language: page.language,
      images: ready.map(({ hashes, quality }) => ({ hashes, quality })),
    });
    page.created = { number: answer.number, secret: answer.secret, names: ready.map((image) => image.name) };
    clearImages();
    $("new-case").reset();
    $("number").value = answer.number;
    renderCreated();
    $("created").focus();
  } catch (failure) {
    say($("progress"), null);
    say($("new-error"), ...explain(failure));
  } finally {
    $("send").disabled = false;
  }
}

function renderCreated() {
  const created = page.created;
  $("created").hidden = !created;
  $("new-case").hidden = Boolean(created);
  if (!created) return;
  $("created-number").textContent = created.number;
  $("created-secret").textContent = created.secret;
  // The names stay on this device: they only help the victim tell which image is which number.
  $("created-images").replaceChildren(...created.names.map((name, index) => el("li", {},
    el("strong", {}, t("image_n", { n: index + 1 })), " ", el("bdi", {}, name))));
}

async function copyCodes() {
  const { number, secret } = page.created;
  try {
    await navigator.clipboard.writeText(`${t("case_number")}: ${number}\n${t("secret")}: ${secret}`);
    say($("copy-status"), "copied");
  } catch {
    // No clipboard (an insecure context, or refused): select the codes for the device's own copy command.
    getSelection().selectAllChildren($("created").querySelector(".codes"));
    say($("copy-status"), "copy_failed");
  }
}

function startAgain() {
  page.created = null;
  say($("copy-status"), null);
  renderCreated();
  $("new-case").querySelector("input").focus();
}

// --- following a case

async function showStatus(event) {
  event.preventDefault();
  const access = { number: $("number").value.trim(), secret: $("secret").value.trim() };
  if (!access.number || !access.secret) {
    say($("status-message"), "error_missing_codes");
    return;
  }
  say($("status-message"), "checking");
  $("show").disabled = true;
  try {
    page.shown = await post("v1/cases/status", access);
    page.access = { number: page.shown.number, secret: access.secret };
    $("secret").value = "";
    renderStatus();
    say($("status-message"), "status_loaded");
    $("status").querySelector("h3").focus();
  } catch (failure) {
    forgetCase();
    say($("status-message"), ...explain(failure));
  } finally {
    $("show").disabled = false;
  }
}

function forgetCase() {
  page.access = null;
  page.shown = null;
  $("secret").value = "";
  renderStatus();
}

function closeCase() {
  forgetCase();
  $("number").value = "";
  say($("status-message"), "closed");
  $("number").focus();
}

function renderStatus() {
  const shown = page.shown;
  if (!shown) {
    $("status").replaceChildren();
    return;
  }
  const active = shown.images.filter((image) => image.status === "active");
  $("status").replaceChildren(...[
    el("h3", { tabIndex: -1 }, t("status_title")),
    el("p", { className: "code", dir: "ltr", translate: false }, shown.number),
    el("p", {}, t("status_opened", { date: { date: shown.created_at } })),
    el("p", {}, translated("category", shown.category)),
    el("ol", { className: "case-images" }, ...shown.images.map(caseImage)),
    active.length ? el("p", { className: "help" }, t("withdraw_help")) : null,
    active.length > 1
      ? el("button", { type: "button", className: "button danger", onclick: () => withdraw(null) }, t("withdraw_all"))
      : null,
    el("button", { type: "button", className: "button secondary", onclick: closeCase }, t("close_case")),
  ].filter((part) => part !== null));
}

function caseImage(image) {
  const active = image.status === "active";
  return el("li", { className: `case-image ${image.status}` },
    el("h4", {}, t("image_n", { n: image.position })),
    el("p", { className: `state state-${image.status}` },
      translated("case_image", image.status, { date: { date: image.withdrawn_at } })),
    image.takedowns.length
      ? el("ul", { className: "takedowns" }, ...image.takedowns.map(takedown))
      : el("p", { className: "help" }, t("takedowns_none")),
    active
      ? el("button", { type: "button", className: "button secondary", onclick: () => withdraw([image.position]) },
        t("withdraw_image", { n: image.position }))
      : null,
  );
}

// Labelled fields rather than a sentence: the grammar of "a platform in a country" differs in every language.
function takedown(report) {
  return el("li", {}, el("dl", {},
    el("dt", {}, t("country")), el("dd", {}, countryName(report.state)),
    el("dt", {}, t("platform")), el("dd", {}, el("bdi", {}, report.platform)),
    el("dt", {}, t("outcome")),
    el("dd", { className: `state state-${report.status}` }, translated("takedown", report.status)),
    report.reason ? el("dt", {}, t("takedown_reason")) : null,
    report.reason ? el("dd", {}, el("bdi", {}, report.reason)) : null,
    el("dt", {}, t("updated")), el("dd", {}, formatted({ date: report.updated_at })),
  ));
}

async function withdraw(positions) {
  const question = positions ? t("confirm_one", { n: positions[0] }) : t("confirm_all");
  if (!(await confirmed(question))) return;
  say($("status-message"), "withdrawing");
  try {
    // The answer is the case's status after the withdrawal: the page shows it as it is now.
    page.shown = await post("v1/cases/withdraw", { ...page.access, images: positions });
    say($("status-message"), "withdrawn_done");
  } catch (failure) {
    say($("status-message"), ...explain(failure));
  }
  renderStatus();
  $("status").querySelector("h3")?.focus();
}

function confirmed(question) {
  const dialog = $("confirm");
  $("confirm-text").textContent = question;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "withdraw"), { once: true });
    dialog.showModal();
  });
}

// --- the page

function el(tag, properties = {}, ...children) {
  const element = Object.assign(document.createElement(tag), properties);
  element.append(...children.filter((child) => child !== null));
  return element;
}

async function start() {
  hash = makeHasher();
  $("language").addEventListener("change", changeLanguage);
  $("files").addEventListener("change", addFiles);
  $("previews").addEventListener("change", () => page.images.forEach(renderImage));
  $("new-case").addEventListener("submit", sendCase);
  $("copy").addEventListener("click", copyCodes);
  $("again").addEventListener("click", startAgain);
  $("status-form").addEventListener("submit", showStatus);
  for (const button of $("confirm").querySelectorAll("button")) {
    button.addEventListener("click", () => $("confirm").close(button.value));
  }
  const [regions] = await Promise.all([
    loadJson("countries.json").catch(() => ({})),
    setLanguage(chooseLanguage()).catch(() => setLanguage("en")),
  ]);
  page.regions = regions;
  document.body.dataset.ready = "true";
}

start();
