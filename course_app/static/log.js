// Append one line to a message log (textContent only: messages are never parsed as HTML).
(function () {
  "use strict";
  window.courseLog = function (list, kind, text) {
    const item = document.createElement("li");
    item.className = kind;
    const arrow = kind === "sent" ? "\u2192 " : kind === "received" ? "\u2190 " : "";
    item.textContent = arrow + text;
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  };
})();
