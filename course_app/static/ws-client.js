// A WebSocket that says what it is doing and reconnects by itself.
// Shared by echo.html and chat.html; no libraries, works offline.
//
//   const socket = new CourseSocket({defaultPath: "/ws/echo", statusElement, onMessage});
//   socket.send("hi");
//
// The URL comes from the page's own address (same origin), so the page works on
// whatever host and port served it. ?path=/ws overrides the route.
(function () {
  "use strict";

  const CLOSE_NAMES = {
    1000: "normal closure",
    1001: "going away",
    1003: "unsupported data",
    1005: "no status code",
    1006: "connection lost",
    1007: "invalid payload",
    1008: "policy violation",
    1009: "message too big",
    1011: "server error",
    1012: "server restarting",
    1013: "try again later",
    4001: "unauthorized",
    4002: "authentication timeout",
    4003: "heartbeat timeout",
    4004: "too slow",
    4029: "rate limited",
  };

  function closeName(code) {
    return CLOSE_NAMES[code] || "code " + code;
  }

  function socketUrl(defaultPath) {
    const asked = new URLSearchParams(window.location.search).get("path") || defaultPath;
    const path = asked.startsWith("/") ? asked : "/" + asked;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + path;
  }

  class CourseSocket {
    constructor(options) {
      this.url = socketUrl(options.defaultPath);
      this.statusElement = options.statusElement;
      this.onMessage = options.onMessage || function () {};
      this.onStateChange = options.onStateChange || function () {};
      this.baseDelay = options.baseDelay || 250; // ms before the first retry
      this.maxDelay = options.maxDelay || 4000; // the backoff never waits longer than this
      this.stableAfter = options.stableAfter || 5000; // ms a connection must last to reset the backoff
      this.failures = 0; // consecutive failed attempts; reset once a connection has been stable
      this.stableTimer = null;
      this.opens = 0; // how many times a connection opened (1 = first, 2 = one reconnect ...)
      this.ws = null;
      this.state = null;
      this.timer = null;
      this.connect();
    }

    get isOpen() {
      return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
    }

    connect() {
      this.show("connecting", "connecting to " + this.url + " ...");
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let opened = false;
      ws.addEventListener("open", () => {
        opened = true;
        this.opens += 1;
        // Forget past failures only once the connection has stayed up a while: a server
        // that accepts and drops at once must not be hammered at the shortest delay.
        window.clearTimeout(this.stableTimer);
        this.stableTimer = window.setTimeout(() => { this.failures = 0; }, this.stableAfter);
        const again = this.opens > 1 ? " (reconnected)" : "";
        this.show("open", "open: connected to " + this.url + again);
      });
      ws.addEventListener("message", (event) => this.onMessage(event.data));
      ws.addEventListener("close", (event) => {
        window.clearTimeout(this.stableTimer);
        this.retryLater(event, opened);
      });
    }

    // Exponential backoff with jitter: 250 ms, 500 ms, 1 s, 2 s, 4 s, 4 s ...
    // each scaled by a random factor in [0.5, 1) so a crowd of tabs does not
    // reconnect in the same instant after a server restart.
    nextDelay() {
      const ceiling = Math.min(this.maxDelay, this.baseDelay * 2 ** this.failures);
      this.failures += 1;
      return ceiling / 2 + Math.random() * (ceiling / 2);
    }

    retryLater(event, opened) {
      const attempt = this.failures + 1;
      const delay = this.nextDelay();
      const why = opened
        ? "closed (" + event.code + " " + closeName(event.code) + (event.reason ? ": " + event.reason : "") + ")"
        : "closed: could not connect (attempt " + attempt + ")";
      const due = Date.now() + delay;
      const tick = () => {
        const left = Math.max(0, due - Date.now()) / 1000;
        this.show("closed", why + "; retrying in " + left.toFixed(1) + " s");
      };
      tick();
      const countdown = window.setInterval(tick, 100);
      window.clearTimeout(this.timer);
      this.timer = window.setTimeout(() => {
        window.clearInterval(countdown);
        this.connect();
      }, delay);
    }

    send(text) {
      if (!this.isOpen) {
        return false;
      }
      this.ws.send(text);
      return true;
    }

    show(state, words) {
      const changed = state !== this.state;
      this.state = state;
      if (this.statusElement) {
        this.statusElement.dataset.state = state;
        this.statusElement.dataset.opens = String(this.opens);
        this.statusElement.textContent = words;
      }
      if (changed) {
        this.onStateChange(state, words);
      }
    }
  }

  window.CourseSocket = CourseSocket;
  window.courseCloseName = closeName;
})();
