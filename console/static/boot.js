// Runs before the page renders (not deferred): lets app.css hide the small-screen menu
// only when app.js is there to open it. A file, so the CSP can refuse inline scripts.
document.documentElement.classList.add("js");
