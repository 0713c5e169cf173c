// The page's classifier: pictures (picked, dropped or from the camera) -> uint8 H x W x 3 pixels -> the
// exported ONNX graph (its preprocessing inside: the same centre square, resize and scaling as nbtrainer's
// learn.predict) -> the top 3 classes. No framework: one small script beside onnxruntime-web's files.
"use strict";
(function () {
  const info = JSON.parse(document.getElementById("model-info").textContent);
  const $ = (id) => document.getElementById(id);
  const MIN_SIDE = 8, MAX_SIDE = 16384, LIVE_PAUSE_MS = 250;  // the graph's limits; the camera's pace
  const timings = { loadedMs: null, firstPredictionMs: null, runs: [] };
  window.nbtrainerPage = { info, timings };

  function say(text, problem) {
    $("status").textContent = text;
    $("status").className = problem ? "error" : "";
  }

  ort.env.wasm.wasmPaths = new URL("./", document.baseURI).href;  // the runtime's files beside this page
  // threads need a cross-origin-isolated page (SharedArrayBuffer); a plain server gets one thread, no warning
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  const ready = ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] }).then((session) => {
    timings.loadedMs = performance.now();
    say(`Ready: pick or drop pictures, or use the camera (${info.classes.length} classes: ${info.classes.join(", ")}).`);
    return session;
  });
  ready.catch((e) => {
    if (location.protocol === "file:") {  // browsers let no page opened as a file fetch its model
      say("This page must be served, not opened as a file: in its folder run `python -m http.server` and open " +
          `http://localhost:8000/ (or put the folder on a web server). The browser said: ${e.message || e}`, true);
    } else {
      say(`The model did not load: ${e.message || e}`, true);
    }
    console.error(e);
  });

  // The picture's own pixels as RGB: transparency on white (as nbtrainer's to_rgb); no colour conversion.
  function pixels(source, width, height) {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    ctx.drawImage(source, 0, 0, width, height);
    const rgba = ctx.getImageData(0, 0, width, height).data;
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
      rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
    }
    return new ort.Tensor("uint8", rgb, [height, width, 3]);
  }

  let queue = Promise.resolve();  // one run at a time: a session runs one input at once
  function classify(tensor) {
    const run = queue.then(async () => {
      const session = await ready;
      const start = performance.now();
      const out = await session.run({ image: tensor });
      const ms = performance.now() - start;
      timings.runs.push(ms);
      if (timings.firstPredictionMs === null) timings.firstPredictionMs = performance.now();
      return { probs: Array.from(out.probabilities.data), ms };
    });
    queue = run.catch(() => {});
    return run;
  }

  function showTop(box, probs) {
    const order = probs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, 3);
    box.replaceChildren(...order.map(([p, i]) => {
      const row = document.createElement("div");
      row.className = "row";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = info.classes[i];
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${(100 * p).toFixed(1)}%`;
      bar.append(fill);
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = `${(100 * p).toFixed(1)}%`;
      row.append(name, bar, pct);
      return row;
    }));
    box.dataset.probs = JSON.stringify(probs);
    box.dataset.top = info.classes[order[0][1]];
  }

  async function addPicture(file) {
    const item = document.createElement("li");
    item.className = "result";
    item.dataset.file = file.name;
    const img = document.createElement("img");
    img.alt = file.name;
    const text = document.createElement("div");
    text.className = "top3";
    const name = document.createElement("div");
    name.className = "file";
    name.textContent = file.name;
    item.append(img, text);
    $("results").prepend(item);
    try {
      const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
      const { width, height } = bitmap;
      if (Math.min(width, height) < MIN_SIDE || Math.max(width, height) > MAX_SIDE) {
        throw new Error(`it is ${width} x ${height} px; expected ${MIN_SIDE} to ${MAX_SIDE} px a side`);
      }
      img.src = URL.createObjectURL(file);
      const result = await classify(pixels(bitmap, width, height));
      bitmap.close();
      showTop(text, result.probs);
      text.append(name);
      item.dataset.ms = result.ms.toFixed(1);
      item.dataset.done = "1";
    } catch (e) {
      text.textContent = `'${file.name}' could not be classified: ${e.message || e}`;
      item.dataset.error = text.textContent;
      item.dataset.done = "1";
    }
  }

  async function addPictures(files) {
    for (const file of files) await addPicture(file);
  }

  $("pick").addEventListener("change", (e) => { addPictures([...e.target.files]); e.target.value = ""; });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    addPictures([...e.dataTransfer.files].filter((f) => f.type.startsWith("image/")));
  });

  // The camera: classified live, one frame at a time with a pause between (not every frame: a laptop's fan).
  let stream = null;
  function cameraProblem(e) {
    if (e.name === "NotAllowedError" || e.name === "SecurityError") {
      return "The camera was not allowed: allow it for this page (the camera icon in the address bar) and try again.";
    }
    if (e.name === "NotFoundError" || e.name === "OverconstrainedError") return "No camera was found on this computer.";
    if (e.name === "NotReadableError") return "The camera is busy: another program or tab is using it.";
    return `The camera did not start: ${e.name}: ${e.message}`;
  }
  async function startCamera() {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(`The camera needs a page served over https or from localhost; this one is ${location.origin}.`, true);
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (e) {
      say(cameraProblem(e), true);
      return;
    }
    const video = $("video");
    video.srcObject = stream;
    await video.play();
    $("live").hidden = false;
    $("camera").hidden = true;
    $("stop-camera").hidden = false;
    const tick = async () => {
      if (!stream) return;
      if (video.videoWidth >= MIN_SIDE) {
        try {
          showTop($("live-top"), (await classify(pixels(video, video.videoWidth, video.videoHeight))).probs);
        } catch (e) {
          say(`The camera's picture could not be classified: ${e.message || e}`, true);
        }
      }
      setTimeout(tick, LIVE_PAUSE_MS);
    };
    tick();
  }
  function stopCamera() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    $("video").srcObject = null;
    $("live").hidden = true;
    $("camera").hidden = false;
    $("stop-camera").hidden = true;
  }
  $("camera").addEventListener("click", startCamera);
  $("stop-camera").addEventListener("click", stopCamera);
})();
