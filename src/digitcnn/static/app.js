// digitcnn page: draw, upload or link an image; show what the model read. No build step.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const preview = document.getElementById("preview");
const statusLine = document.getElementById("status");
const digitsLine = document.getElementById("digits");
const details = document.getElementById("details");
let strokes = [];        // each stroke: a list of [x, y] in canvas pixels
let current = null;
let readTimer = null;

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
}

function redraw() {
  clearPad();
  ctx.strokeStyle = "#111";
  ctx.lineWidth = 18;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const stroke of strokes) {
    ctx.beginPath();
    stroke.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (stroke.length === 1) ctx.lineTo(stroke[0][0] + 0.1, stroke[0][1]);
    ctx.stroke();
  }
}

function point(event) {
  const rect = pad.getBoundingClientRect();
  return [(event.clientX - rect.left) * pad.width / rect.width, (event.clientY - rect.top) * pad.height / rect.height];
}

pad.addEventListener("pointerdown", (event) => {
  pad.setPointerCapture(event.pointerId);
  current = [point(event)];
  strokes.push(current);
  clearTimeout(readTimer);
  redraw();
});
pad.addEventListener("pointermove", (event) => {
  if (!current) return;
  current.push(point(event));
  redraw();
});
function endStroke() {
  if (!current) return;
  current = null;
  clearTimeout(readTimer);
  readTimer = setTimeout(readDrawing, 500);  // debounced: read when the writer pauses
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

document.getElementById("undo").addEventListener("click", () => {
  strokes.pop();
  redraw();
  strokes.length ? readDrawing() : showEmpty();
});
document.getElementById("clear").addEventListener("click", () => {
  strokes = [];
  redraw();
  showEmpty();
});
document.getElementById("read").addEventListener("click", readDrawing);

function showEmpty() {
  statusLine.textContent = "Draw something to start.";
  statusLine.className = "";
  digitsLine.textContent = "";
  details.innerHTML = "";
  preview.getContext("2d").clearRect(0, 0, preview.width, preview.height);
}

function readDrawing() {
  if (!strokes.length) return showEmpty();
  const image = new Image();
  image.src = pad.toDataURL("image/png");
  pad.toBlob((blob) => send("/api/predict?include_images=true", { method: "POST", body: blob,
    headers: { "Content-Type": "application/octet-stream" } }, image), "image/png");
}

function readFile(file) {
  if (!file) return;
  const image = new Image();
  image.src = URL.createObjectURL(file);
  const form = new FormData();
  form.append("image", file);
  send("/api/predict?include_images=true", { method: "POST", body: form }, image);
}

document.getElementById("file").addEventListener("change", (event) => readFile(event.target.files[0]));
const drop = document.getElementById("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  readFile(event.dataTransfer.files[0]);
});
document.getElementById("url-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const url = document.getElementById("url").value.trim();
  if (!url) return;
  const image = new Image();
  image.crossOrigin = "anonymous";
  image.src = url;
  send("/api/predict-url?include_images=true", { method: "POST", body: JSON.stringify({ url }),
    headers: { "Content-Type": "application/json" } }, image);
});

async function send(path, options, image) {
  statusLine.textContent = "Reading…";
  statusLine.className = "";
  let answer;
  try {
    const response = await fetch(path, options);
    answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  } catch (err) {
    digitsLine.textContent = "";
    details.innerHTML = "";
    statusLine.textContent = `Sorry, that did not work: ${err.message}`;
    statusLine.className = "error";
    return;
  }
  show(answer, image);
}

function show(result, image) {
  details.innerHTML = "";
  digitsLine.textContent = result.digits;
  if (!result.predictions.length) {
    statusLine.textContent = "No digit found. Try writing larger or with more contrast.";
    statusLine.className = "unsure";
  } else {
    const percent = (result.confidence * 100).toFixed(1);
    statusLine.textContent = result.low_confidence
      ? `Read ${result.digits}, but unsure (confidence ${percent}%).`
      : `Read ${result.digits} (confidence ${percent}%).`;
    statusLine.className = result.low_confidence ? "unsure" : "";
  }
  result.predictions.forEach((prediction, i) => {
    const card = document.createElement("figure");
    card.className = "digit-card";
    const seen = result.images ? `<img src="${result.images[i]}" alt="The 28x28 image the model saw for digit ${i + 1}">` : "";
    const bars = prediction.probabilities.map((p, d) =>
      `<span>${d}</span><span class="bar" style="width:${(p * 100).toFixed(1)}%" role="img" aria-label="${d}: ${(p * 100).toFixed(1)}%"></span><span>${(p * 100).toFixed(1)}%</span>`).join("");
    card.innerHTML = `<figcaption>Digit ${i + 1}: <b>${prediction.digit}</b></figcaption>${seen}<div class="bars">${bars}</div>`;
    details.appendChild(card);
  });
  drawBoxes(image, result.predictions);
}

function drawBoxes(image, predictions) {
  const draw = () => {
    const scale = Math.min(preview.width / image.naturalWidth, preview.height / image.naturalHeight) || 1;
    const p = preview.getContext("2d");
    p.clearRect(0, 0, preview.width, preview.height);
    p.drawImage(image, 0, 0, image.naturalWidth * scale, image.naturalHeight * scale);
    p.strokeStyle = "#e53935";
    p.lineWidth = 2;
    for (const { box } of predictions) p.strokeRect(box[0] * scale, box[1] * scale, box[2] * scale, box[3] * scale);
  };
  if (!image) return;
  if (image.complete && image.naturalWidth) draw(); else image.onload = draw;
}

clearPad();
