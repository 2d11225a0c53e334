// digitcnn page: draw, upload or link one picture at a time; show what the model read.
// Plain script, no build step. Sections: constants, state, rendering, network, inputs, drawing, start.
"use strict";

// ---------------------------------------------------------------- constants

// Strokes are kept in pad units, whatever the screen: the server always gets a 560x280 drawing,
// the size its MNIST conversion was tuned on, and a phone's small pad writes the same pen width.
const PAD_WIDTH = 560;
const PAD_HEIGHT = 280;
const STROKE_WIDTH = 18;           // pad units: close to a marker at MNIST's 28x28 scale
const INK = "#111";
const READ_DELAY_MS = 250;         // pause after the last stroke before reading: a 4's two strokes stay one read
const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;   // the server's limit (413 above it)
const MAX_UPLOAD_SIDE = 1600;      // bigger photos are shrunk here first: faster, and the server shrinks anyway
const JPEG_QUALITY = 0.92;
const SOURCE_PREVIEW_SIDE = 640;   // the server's source_image is at most this many pixels a side
const TOP_CANDIDATES = 3;
const LOW_CONFIDENCE = 0.6;          // results.LOW_CONFIDENCE: the API flags a reading below it as unsure
const PREDICT = "/api/predict?include_images=true";
const PREDICT_URL = "/api/predict-url?include_images=true";

const EMPTY_PROMPT = {
  draw: "Draw a digit to start.",
  upload: "Choose a picture of handwritten digits.",
  link: "Paste the address of a picture and press Read.",
};
// The API's messages are precise (for developers); people get these.
const FRIENDLY = {
  notImage: "That file isn't an image.",
  damaged: "That picture could not be read: it is damaged or too large, or it holds more than a number.",
  tooLarge: "That picture is too large (max 10 MB).",
  unreachable: "That address can't be reached from here.",
  linkNotImage: "That address doesn't lead to an image.",
  notAddress: "That isn't a web address: it starts with http:// or https://.",
  badDrawing: "The drawing could not be read. Clear it and try again.",
  offline: "The server can't be reached. Check the connection and try again.",
  server: "Something went wrong on the server. Try again.",
};

// ---------------------------------------------------------------- state

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const padContext = pad.getContext("2d");
const resultPanel = $("result");
const statusLine = $("status");
const digitsLine = $("digits");
const details = $("details");
const picture = $("picture");
const pictureImage = $("picture-img");
const pictureBoxes = $("picture-boxes");
const padBoxes = $("pad-boxes");
const fileInput = $("file");
const urlInput = $("url");
const inputPanel = $("input");

const state = {
  mode: "draw",
  strokes: [],        // each stroke: a list of [x, y] in pad units
  stroke: null,       // the stroke being drawn
  pointerId: null,    // the one pointer drawing it (a second finger is ignored)
  readTimer: null,
  request: 0,         // bumped by every new read, Clear and mode change: a reply for an older number is dropped
  controller: null,   // aborts the request in flight
};

// ---------------------------------------------------------------- rendering

// busy: a read is pending (the cue shows). stale: the pen is down, so the answer shown is about
// to change; it is dimmed rather than blanked, so nothing flashes between strokes.
function setBusy(busy) {
  resultPanel.classList.toggle("busy", busy);
  if (!busy) resultPanel.classList.remove("stale");
}

function setStatus(text, kind = "") {
  statusLine.textContent = text;
  statusLine.className = kind;
}

function clearAnswer() {
  digitsLine.textContent = "";
  digitsLine.className = "digits";
  details.replaceChildren();
  padBoxes.replaceChildren();
}

function clearPicture() {
  picture.hidden = true;
  pictureImage.removeAttribute("src");
  pictureBoxes.replaceChildren();
}

function showEmpty() {
  setBusy(false);
  clearAnswer();
  setStatus(EMPTY_PROMPT[state.mode]);
}

function showError(message) {
  setBusy(false);
  clearAnswer();
  clearPicture();  // never leave a picture beside an answer it does not belong to
  setStatus(message, "error");
}

const percent = (p) => `${(p * 100).toFixed(p >= 0.995 || p < 0.001 ? 0 : 1)}%`;

// Marks that are not digits (dots, dashes, letters, doodles) come back in result.rejected.
const notDigits = (result) => (result.rejected || []).map((mark) => ({ ...mark, rejected: true }));

function summary(result) {
  const marks = (result.rejected || []).length;
  if (!result.predictions.length && marks) {
    return [`Not a digit: that ${marks > 1 ? `looks like ${marks} marks` : "looks like a mark"} that ${marks > 1 ? "are" : "is"} not a digit.`, "no-digit"];
  }
  if (!result.predictions.length) {
    return [`No digit found. ${state.mode === "draw" ? "Write larger" : "Try a picture with darker ink"} or with more contrast.`, "no-digit"];
  }
  const confidence = percent(result.confidence);
  // The number as written, separators kept ("1.990"); several lines of writing are listed in order.
  const lines = (result.lines || []).map((line) => line.text);
  const read = lines.length > 1 ? `${lines.length} lines: ${lines.join(", then ")}` : (result.text || result.digits);
  if (result.low_confidence) return [`Unsure: maybe ${read} (confidence ${confidence}). Try writing it more clearly.`, "unsure"];
  return [`Read ${read} (confidence ${confidence}).`, ""];
}

function showResult(result, originalSize) {
  setBusy(false);
  clearAnswer();
  const [text, kind] = summary(result);
  setStatus(text, kind);
  if (!result.predictions.length) {
    digitsLine.textContent = result.message ? capitalize(result.message) : "No digit found";
    digitsLine.className = "digits no-digit";
  } else {
    digitsLine.textContent = result.text || result.digits;  // a newline between lines (pre-line)
    if (result.low_confidence) {
      digitsLine.classList.add("unsure");
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = "unsure";
      digitsLine.append(tag);
    }
  }
  result.predictions.forEach((prediction, i) => details.append(digitCard(result, prediction, i)));
  if (state.mode === "draw") {
    drawBoxes(padBoxes, [...result.predictions, ...notDigits(result)], { width: PAD_WIDTH, height: PAD_HEIGHT });
  } else {
    showPicture(result, originalSize);
  }
  performance.mark("digitcnn-answer");
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function digitCard(result, prediction, i) {
  const count = result.predictions.length;
  const unsure = prediction.rejected || prediction.probability < LOW_CONFIDENCE;
  const card = element("article", unsure ? "digit-card unsure" : "digit-card");
  const title = element("h3", "", count > 1 ? `Digit ${i + 1} of ${count}: ` : "Digit: ");
  title.append(element("b", "", prediction.rejected ? "?" : String(prediction.digit)));
  if (prediction.rejected) title.append(" ", element("span", "verdict", "(not a digit)"));
  else if (unsure) title.append(" ", element("span", "verdict", "(unsure)"));
  card.append(title);

  if (result.images && result.images[i]) {
    const seen = element("figure", "seen");
    const image = element("img");
    image.src = result.images[i];
    image.alt = `The 28x28 image the model saw for digit ${i + 1}`;
    image.width = 84;
    image.height = 84;
    seen.append(image, element("figcaption", "", "What the model saw (28x28)"));
    card.append(seen);
  }

  const scores = element("div", "scores");
  const chips = element("ul", "chips");
  chips.setAttribute("aria-label", "Best candidates");
  const ranked = prediction.probabilities.map((p, digit) => ({ digit, p })).sort((a, b) => b.p - a.p);
  for (const { digit, p } of ranked.slice(0, TOP_CANDIDATES)) {
    const chip = element("li");
    chip.append(element("b", "", String(digit)), ` ${percent(p)}`);
    chips.append(chip);
  }
  const bars = element("div", "bars");
  bars.setAttribute("role", "group");
  bars.setAttribute("aria-label", "Probability of each digit");
  prediction.probabilities.forEach((p, digit) => {
    const track = element("span", "bar-track");
    track.setAttribute("aria-hidden", "true");  // the number beside it says the same
    const bar = element("span", "bar");
    bar.style.width = `${(p * 100).toFixed(1)}%`;
    track.append(bar);
    bars.append(element("span", "bar-digit", String(digit)), track, element("span", "bar-value", percent(p)));
  });
  scores.append(chips, bars);
  card.append(scores);
  return card;
}


// Boxes are placed in percent of the picture they frame, so they stay right at any size and zoom.
function drawBoxes(layer, predictions, size) {
  layer.replaceChildren();
  if (!size || !size.width || !size.height) return;
  for (const prediction of predictions) {
    const [x, y, w, h] = prediction.box;
    const box = element("span", prediction.rejected ? "unsure" : "");
    Object.assign(box.style, {
      left: `${(x / size.width) * 100}%`, top: `${(y / size.height) * 100}%`,
      width: `${(w / size.width) * 100}%`, height: `${(h / size.height) * 100}%`,
    });
    layer.append(box);
  }
}

// The picture shown is always the server's copy of what it read (for a link, the one it fetched).
// Boxes are in the original picture's pixels: known for uploads; for links only when the server
// says (source_size) or when the copy was small enough not to be shrunk.
function showPicture(result, originalSize) {
  if (!result.source_image) return clearPicture();
  const request = state.request;
  pictureBoxes.replaceChildren();
  pictureImage.onload = () => {
    if (request !== state.request) return;
    let size = originalSize;
    if (!size && Array.isArray(result.source_size)) size = { width: result.source_size[0], height: result.source_size[1] };
    if (!size && Math.max(pictureImage.naturalWidth, pictureImage.naturalHeight) < SOURCE_PREVIEW_SIDE) {
      size = { width: pictureImage.naturalWidth, height: pictureImage.naturalHeight };
    }
    drawBoxes(pictureBoxes, [...result.predictions, ...notDigits(result)], size);
  };
  pictureImage.src = result.source_image;
  picture.hidden = false;
}

// ---------------------------------------------------------------- network

// Starts a read: cancels whatever was pending, so only the newest input's reply is ever shown.
function beginRead() {
  cancelRead();
  state.controller = new AbortController();
  setBusy(true);
  return { id: state.request, signal: state.controller.signal };
}

function cancelRead() {
  state.request += 1;
  clearTimeout(state.readTimer);
  state.readTimer = null;
  if (state.controller) state.controller.abort();
  state.controller = null;
  setBusy(false);
}

const isCurrent = (ticket) => ticket.id === state.request;

class FriendlyError extends Error {}

// POSTs and returns the ReadResult, or null when a newer read has taken over.
async function post(ticket, path, options, kind) {
  let response;
  let answer = null;
  try {
    response = await fetch(path, { ...options, method: "POST", signal: ticket.signal });
    answer = await response.json().catch(() => null);
  } catch (err) {
    if (!isCurrent(ticket)) return null;
    throw new FriendlyError(FRIENDLY.offline);
  }
  if (!isCurrent(ticket)) return null;
  if (!response.ok) {
    if (answer && answer.error) console.info(`digitcnn: ${response.status} ${answer.error}`);
    throw new FriendlyError(friendlyMessage(response.status, kind));
  }
  return answer;
}

function friendlyMessage(status, kind) {
  if (status === 413) return FRIENDLY.tooLarge;
  if (status >= 500 || !status) return FRIENDLY.server;
  if (kind === "link") return status === 415 ? FRIENDLY.linkNotImage : FRIENDLY.unreachable;
  if (kind === "draw") return FRIENDLY.badDrawing;
  return status === 415 ? FRIENDLY.notImage : FRIENDLY.damaged;
}

async function run(ticket, work) {
  try {
    await work();
  } catch (err) {
    if (!isCurrent(ticket)) return;
    if (!(err instanceof FriendlyError)) console.error(err);
    showError(err instanceof FriendlyError ? err.message : FRIENDLY.server);
  } finally {
    if (isCurrent(ticket)) setBusy(false);
  }
}

// ---------------------------------------------------------------- inputs

function readDrawing() {
  if (!state.strokes.length) return showEmpty();
  const ticket = beginRead();
  run(ticket, async () => {
    const blob = await drawingBlob();
    if (!isCurrent(ticket)) return;
    const result = await post(ticket, PREDICT, { body: blob, headers: { "Content-Type": "image/png" } }, "draw");
    if (result) showResult(result);
  });
}

// A picture the browser can decode is checked and, when big, shrunk before it is sent; one it
// cannot decode is sent as it is (the server may still read it, or says why not).
async function prepareUpload(file) {
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    if (file.size > MAX_UPLOAD_BYTES) throw new FriendlyError(FRIENDLY.tooLarge);
    return { body: file, size: null };
  }
  const { width, height } = bitmap;
  const scale = Math.min(1, MAX_UPLOAD_SIDE / Math.max(width, height));
  if (scale === 1 && file.size <= MAX_UPLOAD_BYTES) {
    bitmap.close();
    return { body: file, size: { width, height } };
  }
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  // JPEG for photos; PNG otherwise, since JPEG would turn a transparent background black.
  const type = file.type === "image/jpeg" ? "image/jpeg" : "image/png";
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, type, JPEG_QUALITY));
  if (!blob || blob.size > MAX_UPLOAD_BYTES) throw new FriendlyError(FRIENDLY.tooLarge);
  return { body: blob, size: { width: canvas.width, height: canvas.height } };
}

function readFile(file) {
  if (!file) return;
  setMode("upload");
  clearDrawing();
  const ticket = beginRead();
  clearPicture();
  run(ticket, async () => {
    const upload = await prepareUpload(file);
    if (!isCurrent(ticket)) return;
    const form = new FormData();
    form.append("image", upload.body, file.name || "picture");
    const result = await post(ticket, PREDICT, { body: form }, "upload");
    if (result) showResult(result, upload.size);
  });
  fileInput.value = "";  // choosing the same file again must read it again
}

// What the server fetches: an http or https address. The field (type="url") stops text that is no
// address at all; an ftp: or file: one would be refused, and people are better told why.
function isWebAddress(text) {
  try {
    return ["http:", "https:"].includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

function readLink(url) {
  if (!url) return;
  if (!isWebAddress(url)) {
    cancelRead();  // (a read still on its way is dropped)
    return showError(FRIENDLY.notAddress);
  }
  clearDrawing();
  const ticket = beginRead();
  clearPicture();
  run(ticket, async () => {
    const result = await post(ticket, PREDICT_URL, {
      body: JSON.stringify({ url }), headers: { "Content-Type": "application/json" },
    }, "link");
    if (result) showResult(result, null);
  });
}

// One input at a time: switching drops the answer and the picture of the input left behind.
function setMode(mode) {
  if (state.mode === mode) return;
  state.mode = mode;
  for (const radio of document.querySelectorAll('input[name="mode"]')) radio.checked = radio.value === mode;
  for (const name of ["draw", "upload", "link"]) $(`${name}-panel`).hidden = name !== mode;
  cancelRead();
  clearPicture();
  if (mode === "draw" && state.strokes.length) {
    clearAnswer();
    readDrawing();
  } else {
    showEmpty();
  }
}

for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener("change", () => radio.checked && setMode(radio.value));
}
fileInput.addEventListener("change", () => readFile(fileInput.files[0]));
$("url-form").addEventListener("submit", (event) => {
  event.preventDefault();
  readLink(urlInput.value.trim());
});

// A picture dropped anywhere on the input panel, or pasted, is read as an upload.
inputPanel.addEventListener("dragover", (event) => {
  if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
  event.preventDefault();
  inputPanel.classList.add("over");
});
inputPanel.addEventListener("dragleave", (event) => {
  if (!inputPanel.contains(event.relatedTarget)) inputPanel.classList.remove("over");
});
inputPanel.addEventListener("drop", (event) => {
  event.preventDefault();
  inputPanel.classList.remove("over");
  readFile(event.dataTransfer.files[0]);
});
document.addEventListener("paste", (event) => {
  const file = Array.from(event.clipboardData ? event.clipboardData.files : []).find((f) => f.type.startsWith("image/"));
  if (file) {
    event.preventDefault();
    readFile(file);
  }
});

// ---------------------------------------------------------------- drawing

// The canvas's pixels follow the screen's (devicePixelRatio), so lines stay sharp on 3x phones.
function fitPad() {
  const rect = pad.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(rect.width * ratio));
  const height = Math.max(1, Math.round(rect.height * ratio));
  if (pad.width !== width || pad.height !== height) {
    pad.width = width;
    pad.height = height;
  }
  paint(padContext, pad.width / PAD_WIDTH, pad.height / PAD_HEIGHT);
}

function paint(context, scaleX, scaleY) {
  context.setTransform(1, 0, 0, 1, 0, 0);
  context.fillStyle = "#fff";
  context.fillRect(0, 0, context.canvas.width, context.canvas.height);
  context.setTransform(scaleX, 0, 0, scaleY, 0, 0);
  context.strokeStyle = INK;
  context.lineWidth = STROKE_WIDTH;
  context.lineCap = "round";
  context.lineJoin = "round";
  for (const stroke of state.strokes) {
    context.beginPath();
    stroke.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    if (stroke.length === 1) context.lineTo(stroke[0][0] + 0.1, stroke[0][1]);  // a dot
    context.stroke();
  }
}

// What is sent: the drawing at PAD_WIDTH x PAD_HEIGHT, the same on every screen.
function drawingBlob() {
  const canvas = document.createElement("canvas");
  canvas.width = PAD_WIDTH;
  canvas.height = PAD_HEIGHT;
  paint(canvas.getContext("2d"), 1, 1);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return [(event.clientX - rect.left) * PAD_WIDTH / rect.width, (event.clientY - rect.top) * PAD_HEIGHT / rect.height];
}

function clearDrawing() {
  state.strokes = [];
  state.stroke = null;
  state.pointerId = null;
  padBoxes.replaceChildren();
  fitPad();
}

pad.addEventListener("pointerdown", (event) => {
  if (state.stroke || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  cancelRead();            // a reply for the drawing without this stroke must not show
  resultPanel.classList.add("stale");
  padBoxes.replaceChildren();
  state.pointerId = event.pointerId;
  state.stroke = [padPoint(event)];
  state.strokes.push(state.stroke);
  fitPad();
});
pad.addEventListener("pointermove", (event) => {
  if (!state.stroke || event.pointerId !== state.pointerId) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) state.stroke.push(padPoint(e));
  fitPad();
});
function endStroke(event) {
  if (!state.stroke || event.pointerId !== state.pointerId) return;
  state.stroke = null;
  state.pointerId = null;
  performance.mark("digitcnn-pen-up");
  setBusy(true);
  clearTimeout(state.readTimer);
  state.readTimer = setTimeout(readDrawing, READ_DELAY_MS);
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function undo() {
  if (state.stroke || !state.strokes.length) return;
  state.strokes.pop();
  cancelRead();
  padBoxes.replaceChildren();
  fitPad();
  if (state.strokes.length) readDrawing(); else showEmpty();
}
$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", () => {
  cancelRead();
  clearDrawing();
  showEmpty();
});
document.addEventListener("keydown", (event) => {
  const typing = event.target instanceof HTMLInputElement && event.target.type !== "radio";
  if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z" && !typing && state.mode === "draw") {
    event.preventDefault();
    undo();
  }
});

// ---------------------------------------------------------------- start

new ResizeObserver(fitPad).observe(pad);  // also fires on zoom, which changes devicePixelRatio
fitPad();
showEmpty();
