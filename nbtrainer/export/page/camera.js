// The camera, for the exported page and the app's camera widget (nbtrainer/widget/camera.py puts this file
// before its own script): one definition of how it starts and of why it cannot.
const CAMERA_REFUSALS = {
  NotAllowedError: "the camera was not allowed: allow it for this page (the camera icon in the address bar) and start it again",
  SecurityError: "the camera was not allowed for this page",
  NotFoundError: "no camera was found on this computer",
  OverconstrainedError: "no camera was found on this computer",
  NotReadableError: "the camera is busy: another program or tab is using it",
};

// {stream} or {refusal: a sentence}; browsers give the camera only to https pages and to localhost
async function openCamera() {
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { refusal: `the camera needs a page on https or on this computer (localhost); this page is ${location.origin}` };
  }
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false }) };
  } catch (e) {
    return { refusal: CAMERA_REFUSALS[e.name] || `the camera did not start: ${e.name}: ${e.message}` };
  }
}
