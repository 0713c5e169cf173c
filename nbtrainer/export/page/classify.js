// The page's classifier: pictures (picked, dropped or from the camera) -> uint8 H x W x 3 pixels -> the
// exported ONNX graph (its preprocessing inside: the same centre square, resize and scaling as nbtrainer's
// learn.predict) -> the top 3 classes. No framework: one small script beside onnxruntime-web's files.
"use strict";
(function () {
  const info = JSON.parse(document.getElementById("model-info").textContent);
  const $ = (id) => document.getElementById(id);
  const { minSide, maxSide, maxPixels, maxAspect } = info.limits;  // nbtrainer's (and the graph's) limits
  const LIVE_PAUSE_MS = 250;  // the camera's pace: a pause after each answer
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
      const problem = Math.min(width, height) < minSide || Math.max(width, height) > maxSide
        ? `it is ${width} x ${height} px; expected ${minSide} to ${maxSide} px a side`
        : width * height > maxPixels ? `it is ${width} x ${height} px, over ${maxPixels.toLocaleString("en")} pixels`
        : Math.max(width, height) / Math.min(width, height) > maxAspect
          ? `it is ${width} x ${height} px, over ${maxAspect} times as wide as high (or high as wide)` : null;
      if (problem) {
        bitmap.close();
        throw new Error(problem);
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
    addPictures([...e.dataTransfer.files]);  // (one that is no picture is named with why)
  });

  // The camera: classified live, one frame at a time with a pause between (not every frame: a laptop's fan).
  // Each start is a new run; a loop or a stream of an older run (Start clicked twice, Stop then Start at once)
  // stops itself.
  let stream = null, run = 0, starting = false;
  async function startCamera() {
    if (starting || stream) return;
    starting = true;
    const mine = ++run;
    const { stream: got, refusal } = await openCamera();  // (camera.js)
    starting = false;
    if (refusal) {
      say(`${refusal[0].toUpperCase()}${refusal.slice(1)}.`, true);
      return;
    }
    if (mine !== run) {  // stopped while the browser asked
      got.getTracks().forEach((t) => t.stop());
      return;
    }
    stream = got;
    const video = $("video");
    video.srcObject = stream;
    try {
      await video.play();
    } catch (e) {  // (Stop pressed before the video started)
      if (mine === run) say(`The camera's video did not start: ${e.message || e}`, true);
      return;
    }
    $("live").hidden = false;
    $("camera").hidden = true;
    $("stop-camera").hidden = false;
    const tick = async () => {
      if (mine !== run) return;
      if (video.videoWidth >= minSide) {
        try {
          const probs = (await classify(pixels(video, video.videoWidth, video.videoHeight))).probs;
          if (mine === run) showTop($("live-top"), probs);
        } catch (e) {
          say(`The camera's picture could not be classified: ${e.message || e}`, true);
        }
      }
      setTimeout(tick, LIVE_PAUSE_MS);
    };
    tick();
  }
  function stopCamera() {
    run += 1;
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
