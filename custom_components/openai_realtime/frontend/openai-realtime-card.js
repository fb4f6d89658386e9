// OpenAI Realtime card: talk to the house from the browser, full duplex (WebRTC).
//
// A plain ES module (no build step): the custom element `openai-realtime-card`, its
// editor `openai-realtime-card-editor`, and `RealtimeTalk`, one WebRTC call.
// Served and loaded by the openai_realtime integration itself.
//
// The browser never sees the API key: Home Assistant mints a short-lived client
// secret for the logged-in user's session (openai_realtime/browser/start). The
// microphone streams to the model and its voice plays here, with the browser's
// echo cancellation, so the user can talk over an answer: the server stops it and
// truncates what was not heard. Function calls arrive on the data channel and run in
// Home Assistant as the user (openai_realtime/browser/tool); finished turns go back
// to Home Assistant's conversation log and costs (openai_realtime/browser/turn).

const CARD = "openai-realtime-card";
const EDITOR = "openai-realtime-card-editor";
const DOMAIN = "openai_realtime";
const CHANNEL = "oai-events";
const TRANSCRIPT_WAIT_MS = 3000; // a turn waits this long for the user's transcript
const RECONNECT_MS = [1000, 2000, 5000, 10000, 30000];
const MAX_LINES = 40; // transcript lines kept on screen
const MS_PER_AUDIO_TOKEN = 50; // the model's voice is billed at a token per 50 ms
// Material Design Icons (Apache 2.0): microphone and stop, inline (no icon font).
const ICON_MIC =
  "M12,2A3,3 0 0,1 15,5V11A3,3 0 0,1 12,14A3,3 0 0,1 9,11V5A3,3 0 0,1 12,2M19,11C19,14.53 16.39,17.44 13,17.93V21H11V17.93C7.61,17.44 5,14.53 5,11H7A5,5 0 0,0 12,16A5,5 0 0,0 17,11H19Z";
const ICON_STOP = "M18,18H6V6H18V18Z";
const icon = (path) =>
  `<svg viewBox="0 0 24 24" width="32" height="32" aria-hidden="true"><path fill="currentColor" d="${path}"/></svg>`;

const STATES = {
  idle: "Tap to talk",
  connecting: "Connecting…",
  listening: "Listening",
  hearing: "Hearing you",
  thinking: "Thinking…",
  speaking: "Speaking",
  error: "Error",
};

// Plain words for what can go wrong before or during a call.
function describeError(err) {
  if (!err) return "Something went wrong.";
  if (err.name === "NotAllowedError" || err.name === "SecurityError") {
    return "Microphone access was denied. Allow it for this site (or the app) and try again.";
  }
  if (err.name === "NotFoundError") return "No microphone was found.";
  if (err.message) return err.message;
  return String(err);
}

class CallError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

// --- one call ------------------------------------------------------------------------

export class RealtimeTalk extends EventTarget {
  constructor(hass, options) {
    super();
    this.hass = hass;
    this.options = options; // {entry_id, conversation_id, language}
    this.pc = null;
    this.dc = null;
    this.micStream = null;
    this.remoteStream = null;
    this.handle = null;
    this.conversationId = options.conversation_id || null;
    this.events = []; // every data channel event, for the curious (and tests)
    this.turn = null; // the turn being heard or answered
    this.turns = []; // turns reported to Home Assistant (their results)
    this.items = new Map(); // item id -> {role, text, interrupted}
    this.tools = new Map(); // call id -> {name, arguments, status, output}
    this.audioMs = new Map(); // response id -> ms of voice it produced
    this.closed = false;
    this.state = "idle";
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state) {
    if (this.state !== state) {
      this.state = state;
      this._emit("state", state);
    }
  }

  async start(audioElement) {
    this._setState("connecting");
    if (!window.RTCPeerConnection) {
      throw new CallError("This browser cannot make WebRTC calls.", "no_webrtc");
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new CallError(
        "The microphone needs a secure connection: open Home Assistant over https (or in the app).",
        "insecure",
      );
    }
    // Home Assistant first: a user who may not talk here is told so before any
    // microphone prompt. The key lives a minute, longer than the prompt usually.
    const started = await this._mint();
    this.micStream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    this.pc = new RTCPeerConnection();
    this.pc.addTrack(this.micStream.getAudioTracks()[0], this.micStream);
    this.pc.ontrack = (event) => {
      this.remoteStream = event.streams[0] || new MediaStream([event.track]);
      if (audioElement) {
        audioElement.srcObject = this.remoteStream;
        audioElement.play().catch(() => {});
      }
      this._emit("remote", this.remoteStream);
    };
    this.pc.onconnectionstatechange = () => {
      const state = this.pc && this.pc.connectionState;
      if (!this.closed && (state === "failed" || state === "closed")) {
        this._fail(new CallError("The connection to the model dropped.", "dropped"));
      }
    };
    this.dc = this.pc.createDataChannel(CHANNEL);
    this.dc.onmessage = (message) => this._onMessage(message.data);
    this.dc.onopen = () => this._onOpen(started.history || []);
    this.dc.onclose = () => {
      if (!this.closed) this._fail(new CallError("The model ended the call.", "ended"));
    };
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    let answer = await this._exchange(started, offer.sdp);
    if (answer === null) {
      // The key expired on the way (it lives a minute): one new one.
      answer = await this._exchange(await this._mint(), offer.sdp);
    }
    if (answer === null) throw new CallError("The model refused the call's key.", "auth");
    await this.pc.setRemoteDescription({ type: "answer", sdp: answer });
  }

  async _mint() {
    let started;
    try {
      started = await this.hass.callWS({
        type: `${DOMAIN}/browser/start`,
        ...(this.options.entry_id ? { entry_id: this.options.entry_id } : {}),
        conversation_id: this.conversationId,
        language: this.options.language,
      });
    } catch (err) {
      throw new CallError(err.message || "Home Assistant refused the call.", err.code);
    }
    this.handle = started.handle;
    this.conversationId = started.conversation_id;
    this._emit("conversation", this.conversationId);
    return started;
  }

  async _exchange(started, sdp) {
    let response;
    try {
      response = await fetch(started.calls_url, {
        method: "POST",
        body: sdp,
        headers: {
          Authorization: `Bearer ${started.client_secret}`,
          "Content-Type": "application/sdp",
        },
      });
    } catch (err) {
      throw new CallError(`Cannot reach the model (${err.message}).`, "cannot_connect");
    }
    if (response.status === 401) return null;
    const body = await response.text();
    if (!response.ok) {
      let message = `The model refused the call (HTTP ${response.status}).`;
      try {
        message = JSON.parse(body).error.message || message;
      } catch (_err) {
        // not JSON: keep the status
      }
      throw new CallError(message, "refused");
    }
    return body;
  }

  send(event) {
    if (this.dc && this.dc.readyState === "open") this.dc.send(JSON.stringify(event));
  }

  stop() {
    if (this.closed) return;
    this.closed = true;
    this._finishTurn(true);
    if (this.dc) this.dc.close();
    if (this.pc) this.pc.close();
    if (this.micStream) this.micStream.getTracks().forEach((track) => track.stop());
    this._setState("idle");
  }

  _fail(err) {
    if (this.closed) return;
    this.stop();
    this._setState("error");
    this._emit("failure", err);
  }

  _onOpen(history) {
    // The conversation so far (typed or spoken elsewhere), so the model knows it.
    for (const item of history) this.send({ type: "conversation.item.create", item });
    this._setState("listening");
  }

  // --- what the model says on the data channel -----------------------------------------

  _onMessage(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch (_err) {
      return;
    }
    this.events.push(event);
    const handler = this._handlers[event.type];
    if (handler) handler.call(this, event);
    this._emit("event", event);
  }

  // How much of an interrupted answer was heard: its characters in the played
  // share of its response's voice (as Home Assistant records it).
  heardChars(line) {
    if (!line.interrupted || line.audioEndMs === undefined) return line.text.length;
    const total = this.audioMs.get(line.response);
    if (!total) return line.text.length;
    const siblings = [...this.items.values()].filter((l) => l.response === line.response);
    const chars = siblings.reduce((n, l) => n + l.text.length, 0) || 1;
    const share = (total * line.text.length) / chars;
    return Math.min(line.text.length, Math.floor((line.text.length * line.audioEndMs) / share));
  }

  _newTurn(userItemId) {
    this._finishTurn(true);
    this.turn = {
      userItem: userItemId,
      userText: null,
      parts: [],
      responses: new Map(),
      calls: new Map(), // call id -> promise of the output
      pending: 0, // responses not done yet
      answered: false, // its last response ended without calling a tool
      played: false, // and its audio has played out (or it had none)
      interrupted: false,
      stopped: new Set(), // responses whose audio has played out
      lastResponse: null,
    };
  }

  _line(itemId, role) {
    let line = this.items.get(itemId);
    if (!line) {
      line = { id: itemId, role, text: "", interrupted: false };
      this.items.set(itemId, line);
    }
    return line;
  }

  async _runTool(event) {
    const tool = {
      id: event.call_id,
      name: event.name,
      arguments: event.arguments,
      status: "running",
      output: null,
    };
    this.tools.set(event.call_id, tool);
    this._emit("tool", tool);
    try {
      const result = await this.hass.callWS({
        type: `${DOMAIN}/browser/tool`,
        ...(this.options.entry_id ? { entry_id: this.options.entry_id } : {}),
        handle: this.handle,
        call_id: event.call_id,
        name: event.name,
        arguments: event.arguments || "{}",
      });
      tool.output = result.output;
      let failed = false;
      try {
        const data = JSON.parse(result.output);
        failed = Boolean(data && data.error && data.success !== true);
      } catch (_err) {
        // not JSON: the model reads it as it is
      }
      tool.status = failed ? "failed" : "done";
    } catch (err) {
      tool.status = "failed";
      tool.output = JSON.stringify({ error: err.code || "error", error_text: err.message });
    }
    this._emit("tool", tool);
    return tool.output;
  }

  async _afterResponse(turn, event) {
    const response = event.response || {};
    const output = response.output || [];
    const calls = output.filter((item) => item.type === "function_call");
    if (response.status !== "completed" || calls.length === 0) {
      // The answer. Spoken: the turn ends when it has played out (or is cut).
      const spoken = output.some((item) =>
        (item.content || []).some((part) => part.type === "output_audio" || part.type === "audio"),
      );
      turn.answered = true;
      turn.lastResponse = response.id;
      turn.played = response.status === "completed" && (!spoken || turn.stopped.has(response.id));
      this._maybeFinish();
      return;
    }
    // Every call's output, then one response for all of them.
    for (const call of calls) {
      const output = await (turn.calls.get(call.call_id) || this._runTool(call));
      this.send({
        type: "conversation.item.create",
        item: { type: "function_call_output", call_id: call.call_id, output },
      });
    }
    if (!this.closed) this.send({ type: "response.create" });
  }

  _maybeFinish() {
    const turn = this.turn;
    if (!turn || !turn.answered || !turn.played) return;
    if (turn.userText === null && !turn.waiting) {
      // The transcript is usually there already; give it a moment if not.
      turn.waiting = setTimeout(() => this._finishTurn(true), TRANSCRIPT_WAIT_MS);
      return;
    }
    if (turn.userText !== null) this._finishTurn(true);
  }

  _finishTurn(force) {
    const turn = this.turn;
    if (!turn || (!force && !turn.answered)) return;
    this.turn = null;
    if (turn.waiting) clearTimeout(turn.waiting);
    if (turn.responses.size === 0 && !turn.userText) return;
    const report = {
      type: `${DOMAIN}/browser/turn`,
      ...(this.options.entry_id ? { entry_id: this.options.entry_id } : {}),
      handle: this.handle,
      user_text: turn.userText || "",
      parts: turn.parts.map((part) => {
        if (part.type === "function_call") return { type: part.type, call_id: part.call_id };
        const line = this.items.get(part.item_id) || { text: "" };
        return {
          type: "message",
          response_id: part.response_id,
          transcript: line.text,
          audio_end_ms: part.audio_end_ms === undefined ? null : part.audio_end_ms,
        };
      }),
      responses: [...turn.responses.values()],
    };
    const sent = this.hass
      .callWS(report)
      .then((result) => {
        this.conversationId = result.conversation_id;
        this._emit("conversation", this.conversationId);
        return result;
      })
      .catch((err) => {
        this._emit("warning", `The turn was not recorded: ${err.message || err.code}`);
        return null;
      });
    this.turns.push(sent);
    this._emit("turn", report);
  }
}

RealtimeTalk.prototype._handlers = {
  "session.created"() {
    this._setState("listening");
  },
  "input_audio_buffer.speech_started"() {
    if (this.turn && !this.turn.played) this.turn.interrupted = true;
    this._setState("hearing");
  },
  "input_audio_buffer.speech_stopped"() {
    this._setState("thinking");
  },
  "input_audio_buffer.committed"(event) {
    this._newTurn(event.item_id);
    this._line(event.item_id, "user");
    this._emit("lines");
  },
  "conversation.item.input_audio_transcription.delta"(event) {
    const line = this._line(event.item_id, "user");
    line.text += event.delta || "";
    this._emit("lines");
  },
  "conversation.item.input_audio_transcription.completed"(event) {
    const line = this._line(event.item_id, "user");
    line.text = event.transcript || line.text;
    if (this.turn && this.turn.userItem === event.item_id) {
      this.turn.userText = line.text;
      this._maybeFinish();
    }
    this._emit("lines");
  },
  "conversation.item.input_audio_transcription.failed"(event) {
    if (this.turn && this.turn.userItem === event.item_id) {
      this.turn.userText = "";
      this._maybeFinish();
    }
  },
  "response.created"(event) {
    if (!this.turn) this._newTurn(null);
    const response = event.response;
    this.turn.responses.set(response.id, { id: response.id, status: "in_progress" });
    this._setState("thinking");
  },
  "response.output_item.added"(event) {
    const item = event.item || {};
    if (!this.turn) return;
    if (item.type === "message") {
      this._line(item.id, "assistant").response = event.response_id;
      this.turn.parts.push({ type: "message", item_id: item.id, response_id: event.response_id });
      this._emit("lines");
    } else if (item.type === "function_call") {
      this.turn.parts.push({ type: "function_call", call_id: item.call_id });
    }
  },
  "response.output_audio_transcript.delta"(event) {
    const line = this._line(event.item_id, "assistant");
    line.text += event.delta || "";
    this._emit("lines");
  },
  "response.output_audio_transcript.done"(event) {
    const line = this._line(event.item_id, "assistant");
    line.text = event.transcript || line.text;
    this._emit("lines");
  },
  "response.output_text.delta"(event) {
    const line = this._line(event.item_id, "assistant");
    line.text += event.delta || "";
    this._emit("lines");
  },
  "response.function_call_arguments.done"(event) {
    if (this.turn && !this.turn.calls.has(event.call_id)) {
      this.turn.calls.set(event.call_id, this._runTool(event));
    }
  },
  "response.done"(event) {
    const response = event.response || {};
    const turn = this.turn;
    if (!turn) return;
    turn.responses.set(response.id, {
      id: response.id,
      status: response.status,
      usage: response.usage || null,
    });
    const details = (response.usage || {}).output_token_details || {};
    this.audioMs.set(response.id, (details.audio_tokens || 0) * MS_PER_AUDIO_TOKEN);
    this._emit("lines");
    this._afterResponse(turn, event);
  },
  "output_audio_buffer.started"() {
    this._setState("speaking");
  },
  "output_audio_buffer.stopped"(event) {
    const turn = this.turn;
    if (turn) {
      turn.stopped.add(event.response_id);
      if (turn.answered && turn.lastResponse === event.response_id) {
        turn.played = true;
        this._maybeFinish();
      }
    }
    this._setState("listening");
  },
  "output_audio_buffer.cleared"() {
    if (this.turn) this.turn.interrupted = true;
  },
  "conversation.item.truncated"(event) {
    const line = this._line(event.item_id, "assistant");
    line.interrupted = true;
    line.audioEndMs = event.audio_end_ms;
    const turn = this.turn;
    const part = turn && turn.parts.find((p) => p.item_id === event.item_id);
    if (part) part.audio_end_ms = event.audio_end_ms;
    this._emit("lines");
  },
  error(event) {
    const error = event.error || {};
    // Harmless races of a full-duplex call.
    if (["response_cancel_not_active", "conversation_already_has_active_response"].includes(error.code)) return;
    this._emit("warning", error.message || "The model reported an error.");
  },
};

// --- the card ------------------------------------------------------------------------

const STYLE = `
  :host { display: block; }
  .card { padding: 16px; display: flex; flex-direction: column; gap: 12px; }
  .top { display: flex; align-items: center; gap: 12px; }
  .title { flex: 1; font-size: 1.2em; font-weight: 500; color: var(--primary-text-color); }
  .status { font-size: 0.9em; color: var(--secondary-text-color); }
  .controls { display: flex; align-items: center; gap: 16px; }
  button.talk {
    width: 64px; height: 64px; border-radius: 50%; border: none; cursor: pointer;
    background: var(--primary-color, #03a9f4); color: var(--text-primary-color, #fff);
    display: flex; align-items: center; justify-content: center; flex: none;
  }
  button.talk[data-active] { background: var(--error-color, #db4437); }
  button.talk:focus-visible { outline: 3px solid var(--accent-color, #ff9800); }
  .meters { flex: 1; display: flex; flex-direction: column; gap: 6px; }
  .meter { height: 8px; border-radius: 4px; background: var(--divider-color, #e0e0e0); overflow: hidden; }
  .meter > div { height: 100%; width: 0%; background: var(--primary-color, #03a9f4); transition: width 60ms linear; }
  .meter.model > div { background: var(--success-color, #43a047); }
  .meter-label { font-size: 0.75em; color: var(--secondary-text-color); }
  label.toggle { display: flex; align-items: center; gap: 6px; font-size: 0.9em; color: var(--primary-text-color); cursor: pointer; }
  .error {
    display: none; padding: 8px 12px; border-radius: 8px;
    background: rgba(219, 68, 55, 0.12); color: var(--error-color, #db4437);
  }
  .error[data-shown] { display: block; }
  .warning { font-size: 0.8em; color: var(--warning-color, #ffa600); min-height: 0; }
  .lines { display: flex; flex-direction: column; gap: 6px; max-height: 360px; overflow-y: auto; }
  .line { padding: 6px 10px; border-radius: 12px; max-width: 85%; white-space: pre-wrap; }
  .line.user { align-self: flex-end; background: var(--primary-color, #03a9f4); color: var(--text-primary-color, #fff); }
  .line.assistant { align-self: flex-start; background: var(--secondary-background-color, #f0f0f0); color: var(--primary-text-color); }
  .line .unheard { opacity: 0.4; text-decoration: line-through; }
  .line.interrupted::after { content: " (interrupted)"; opacity: 0.7; font-style: italic; }
  .tools { display: flex; flex-direction: column; gap: 4px; font-size: 0.85em; }
  .tool { font-family: var(--code-font-family, monospace); color: var(--secondary-text-color); }
  .tool[data-status="done"]::before { content: "✓ "; color: var(--success-color, #43a047); }
  .tool[data-status="failed"]::before { content: "✗ "; color: var(--error-color, #db4437); }
  .tool[data-status="running"]::before { content: "… "; }
  .conversation { font-size: 0.7em; color: var(--secondary-text-color); }
`;

class OpenAIRealtimeCard extends HTMLElement {
  static getConfigElement() {
    return document.createElement(EDITOR);
  }

  static getStubConfig() {
    return { title: "Talk to the house", always_listening: false, show_tools: true };
  }

  constructor() {
    super();
    this._config = {};
    this._hass = null;
    this._talk = null;
    this._conversationId = null;
    this._lines = [];
    this._tools = [];
    this._failures = 0;
    this._reconnect = null;
    this._meterFrame = null;
    this._audioContext = null;
    this.attachShadow({ mode: "open" });
  }

  setConfig(config) {
    if (!config || typeof config !== "object") throw new Error("Invalid configuration");
    this._config = { show_tools: true, always_listening: false, ...config };
    this._render();
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (this._talk) this._talk.hass = hass;
    if (first && this._alwaysListening()) this._startSoon(0);
  }

  get hass() {
    return this._hass;
  }

  getCardSize() {
    return 4;
  }

  getGridOptions() {
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  connectedCallback() {
    if (this._hass && this._alwaysListening() && !this._talk) this._startSoon(0);
  }

  disconnectedCallback() {
    // Left the dashboard: end the call (the microphone must not stay open).
    this._stop();
  }

  _storageKey() {
    return `${DOMAIN}.always_listening.${this._config.entry_id || "default"}`;
  }

  _alwaysListening() {
    const stored = window.localStorage && window.localStorage.getItem(this._storageKey());
    if (stored !== null && stored !== undefined) return stored === "1";
    return Boolean(this._config.always_listening);
  }

  _render() {
    const root = this.shadowRoot;
    const container = customElements.get("ha-card") ? "ha-card" : "div";
    root.innerHTML = `
      <style>${STYLE}</style>
      <${container} class="card-shell">
        <div class="card">
          <div class="top">
            <div class="title"></div>
            <div class="status" role="status" aria-live="polite"></div>
          </div>
          <div class="controls">
            <button class="talk" type="button" aria-label="Talk">${icon(ICON_MIC)}</button>
            <div class="meters">
              <span class="meter-label">You</span>
              <div class="meter mic"><div></div></div>
              <span class="meter-label">Assistant</span>
              <div class="meter model"><div></div></div>
            </div>
          </div>
          <label class="toggle"><input type="checkbox" class="always"> Always listening</label>
          <div class="error" role="alert"><span class="error-text"></span></div>
          <div class="warning"></div>
          <div class="tools"></div>
          <div class="lines" aria-live="polite"></div>
          <div class="conversation"></div>
        </div>
      </${container}>
      <audio class="voice" autoplay playsinline></audio>`;
    root.querySelector(".title").textContent = this._config.title || "Talk to the house";
    root.querySelector(".talk").addEventListener("click", () => this._toggle());
    const always = root.querySelector(".always");
    always.checked = this._alwaysListening();
    always.addEventListener("change", () => {
      if (window.localStorage) window.localStorage.setItem(this._storageKey(), always.checked ? "1" : "0");
      if (always.checked && !this._talk) this._startSoon(0);
    });
    this._showState(this._talk ? this._talk.state : "idle");
    this._showLines();
    this._showTools();
  }

  _$(selector) {
    return this.shadowRoot.querySelector(selector);
  }

  _showState(state) {
    this.setAttribute("data-state", state);
    const status = this._$(".status");
    if (status) status.textContent = STATES[state] || state;
    const talk = this._$(".talk");
    if (talk) {
      const active = Boolean(this._talk) && state !== "error" && state !== "idle";
      talk.toggleAttribute("data-active", active);
      talk.setAttribute("aria-label", active ? "Stop talking" : "Talk");
      talk.innerHTML = icon(active ? ICON_STOP : ICON_MIC);
    }
  }

  _showError(message) {
    const box = this._$(".error");
    if (!box) return;
    box.toggleAttribute("data-shown", Boolean(message));
    this._$(".error-text").textContent = message || "";
  }

  _showLines() {
    const box = this._$(".lines");
    if (!box) return;
    box.replaceChildren(
      ...this._lines.slice(-MAX_LINES).map((line) => {
        const div = document.createElement("div");
        div.className = `line ${line.role}${line.interrupted ? " interrupted" : ""}`;
        div.dataset.item = line.id;
        const heard = this._talkOf(line) ? this._talkOf(line).heardChars(line) : line.text.length;
        div.textContent = line.text.slice(0, heard) || (line.interrupted ? "" : "…");
        if (heard < line.text.length) {
          const rest = document.createElement("span");
          rest.className = "unheard";
          rest.textContent = line.text.slice(heard);
          div.appendChild(rest);
        }
        return div;
      }),
    );
    box.scrollTop = box.scrollHeight;
  }

  _talkOf(_line) {
    return this._talk || this._lastTalk || null;
  }

  _showTools() {
    const box = this._$(".tools");
    if (!box) return;
    const shown = this._config.show_tools === false ? [] : this._tools.slice(-5);
    box.replaceChildren(
      ...shown.map((tool) => {
        const div = document.createElement("div");
        div.className = "tool";
        div.dataset.status = tool.status;
        div.dataset.name = tool.name;
        let args = tool.arguments || "";
        try {
          args = Object.entries(JSON.parse(args)).map(([k, v]) => `${k}: ${v}`).join(", ");
        } catch (_err) {
          // shown as it came
        }
        div.textContent = `${tool.name.split("__").pop()}(${args})`;
        return div;
      }),
    );
  }

  _toggle() {
    if (this._talk) {
      // A deliberate stop also ends "always listening" for this session of the page.
      clearTimeout(this._reconnect);
      this._reconnect = null;
      this._stop();
      return;
    }
    this._failures = 0;
    this._start();
  }

  _startSoon(delay) {
    clearTimeout(this._reconnect);
    this._reconnect = setTimeout(() => {
      this._reconnect = null;
      if (!this._talk && this.isConnected && this._hass) this._start();
    }, delay);
  }

  async _start() {
    if (this._talk || !this._hass) return;
    this._showError(null);
    // Still inside the tap: mobile web views (the apps) let audio start only there.
    this._unlockAudio();
    const talk = new RealtimeTalk(this._hass, {
      entry_id: this._config.entry_id,
      conversation_id: this._conversationId,
      language: this._hass.language,
    });
    this._talk = talk;
    talk.addEventListener("state", (e) => this._showState(e.detail));
    talk.addEventListener("lines", () => {
      this._lines = [...talk.items.values()];
      this._showLines();
    });
    talk.addEventListener("tool", () => {
      this._tools = [...talk.tools.values()];
      this._showTools();
    });
    talk.addEventListener("conversation", (e) => {
      this._conversationId = e.detail;
      this._$(".conversation").textContent = e.detail ? `Conversation ${e.detail}` : "";
    });
    talk.addEventListener("warning", (e) => {
      this._$(".warning").textContent = e.detail;
    });
    talk.addEventListener("remote", () => this._meters());
    talk.addEventListener("failure", (e) => this._failed(talk, e.detail));
    try {
      await talk.start(this._$(".voice"));
      this._failures = 0;
      this._meters();
    } catch (err) {
      this._failed(talk, err);
    }
  }

  _unlockAudio() {
    try {
      if (!this._audioContext) this._audioContext = new AudioContext();
      if (this._audioContext.state === "suspended") this._audioContext.resume().catch(() => {});
    } catch (_err) {
      // no Web Audio: no meters
    }
    const voice = this._$(".voice");
    if (voice && !voice.srcObject) voice.play().catch(() => {});
  }

  _failed(talk, err) {
    talk.stop();
    this._lastTalk = talk;
    if (this._talk === talk) this._talk = null;
    this._stopMeters();
    this._showState("error");
    this._showError(describeError(err));
    // Hands-free: try again, later each time; never when the user must act.
    const final = ["unauthorized", "unavailable", "insecure", "no_webrtc", "not_found", "auth_failed"];
    if (this._alwaysListening() && !final.includes(err && err.code) && err.name !== "NotAllowedError") {
      const delay = RECONNECT_MS[Math.min(this._failures, RECONNECT_MS.length - 1)];
      this._failures += 1;
      this._startSoon(delay);
    }
  }

  _stop() {
    const talk = this._talk;
    this._talk = null;
    if (talk) this._lastTalk = talk;
    if (talk) talk.stop();
    this._stopMeters();
    this._showState("idle");
  }

  // --- level meters ------------------------------------------------------------------

  _meters() {
    const talk = this._talk;
    if (!talk || !talk.micStream) return;
    try {
      if (!this._audioContext) this._audioContext = new AudioContext();
      const ctx = this._audioContext;
      if (ctx.state === "suspended") ctx.resume().catch(() => {});
      const analyser = (stream) => {
        const node = ctx.createAnalyser();
        node.fftSize = 512;
        ctx.createMediaStreamSource(stream).connect(node);
        return node;
      };
      this._analysers = {
        mic: analyser(talk.micStream),
        model: talk.remoteStream ? analyser(talk.remoteStream) : null,
      };
    } catch (_err) {
      return; // no Web Audio here: the card works without its meters
    }
    const samples = new Float32Array(512);
    const level = (node) => {
      if (!node) return 0;
      node.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const rms = Math.sqrt(sum / samples.length);
      return Math.min(1, Math.max(0, (20 * Math.log10(rms + 1e-9) + 60) / 60));
    };
    const draw = () => {
      if (!this._talk) return;
      const mic = this._$(".meter.mic > div");
      const model = this._$(".meter.model > div");
      if (mic) mic.style.width = `${Math.round(level(this._analysers.mic) * 100)}%`;
      if (model) model.style.width = `${Math.round(level(this._analysers.model) * 100)}%`;
      this._meterFrame = requestAnimationFrame(draw);
    };
    cancelAnimationFrame(this._meterFrame);
    this._meterFrame = requestAnimationFrame(draw);
  }

  _stopMeters() {
    cancelAnimationFrame(this._meterFrame);
    this._meterFrame = null;
    for (const bar of this.shadowRoot.querySelectorAll(".meter > div")) bar.style.width = "0%";
  }
}

// --- the editor ----------------------------------------------------------------------

const EDITOR_SCHEMA = (entries) => [
  { name: "title", selector: { text: {} } },
  {
    name: "entry_id",
    selector: {
      select: {
        mode: "dropdown",
        options: entries.map((entry) => ({ value: entry.entry_id, label: entry.title })),
      },
    },
  },
  { name: "always_listening", selector: { boolean: {} } },
  { name: "show_tools", selector: { boolean: {} } },
];

const EDITOR_LABELS = {
  title: "Title",
  entry_id: "OpenAI Realtime entry",
  always_listening: "Always listening (connect when shown, reconnect on drops)",
  show_tools: "Show tool calls",
};

class OpenAIRealtimeCardEditor extends HTMLElement {
  constructor() {
    super();
    this._config = {};
    this._entries = [];
    this._hass = null;
  }

  setConfig(config) {
    this._config = { ...config };
    this._render();
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (first) {
      hass
        .callWS({ type: `${DOMAIN}/browser/entries` })
        .then((result) => {
          this._entries = result.entries || [];
          this._render();
        })
        .catch(() => {});
    }
    const form = this.querySelector("ha-form");
    if (form) form.hass = hass;
  }

  _changed(config) {
    this._config = config;
    this.dispatchEvent(
      new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }),
    );
  }

  _render() {
    const data = { show_tools: true, always_listening: false, ...this._config };
    if (customElements.get("ha-form")) {
      let form = this.querySelector("ha-form");
      if (!form) {
        this.replaceChildren();
        form = document.createElement("ha-form");
        form.computeLabel = (field) => EDITOR_LABELS[field.name] || field.name;
        form.addEventListener("value-changed", (e) => this._changed({ ...e.detail.value }));
        this.appendChild(form);
      }
      form.hass = this._hass;
      form.schema = EDITOR_SCHEMA(this._entries);
      form.data = data;
      return;
    }
    // Without Home Assistant's form element (outside the dashboard editor): plain inputs.
    this.replaceChildren();
    for (const field of EDITOR_SCHEMA(this._entries)) {
      const label = document.createElement("label");
      label.style.display = "block";
      label.textContent = `${EDITOR_LABELS[field.name]} `;
      let input;
      if (field.selector.boolean) {
        input = document.createElement("input");
        input.type = "checkbox";
        input.checked = Boolean(data[field.name]);
      } else if (field.selector.select) {
        input = document.createElement("select");
        const none = new Option("(first entry)", "");
        input.append(none, ...field.selector.select.options.map((o) => new Option(o.label, o.value)));
        input.value = data[field.name] || "";
      } else {
        input = document.createElement("input");
        input.value = data[field.name] || "";
      }
      input.name = field.name;
      input.addEventListener("change", () => {
        const value = input.type === "checkbox" ? input.checked : input.value;
        const config = { ...this._config, [field.name]: value };
        if (value === "") delete config[field.name];
        this._changed(config);
      });
      label.appendChild(input);
      this.appendChild(label);
    }
  }
}

function register() {
  if (!customElements.get(CARD)) customElements.define(CARD, OpenAIRealtimeCard);
  if (!customElements.get(EDITOR)) customElements.define(EDITOR, OpenAIRealtimeCardEditor);
}

// The integration has Home Assistant load this module early, with the page. Some
// frontends (HA 2026.2) install a scoped custom element registry as the app starts,
// and elements defined before it are unknown to the app: define ours once the app
// is there (at once when it already is, as a dashboard resource would load it).
if (customElements.get("home-assistant")) {
  register();
} else {
  customElements.whenDefined("home-assistant").then(register);
}
window.customCards = window.customCards || [];
if (!window.customCards.some((card) => card.type === CARD)) {
  window.customCards.push({
    type: CARD,
    name: "OpenAI Realtime",
    description: "Talk to your house hands-free and interrupt at will (WebRTC).",
    preview: false,
    documentationURL: "https://github.com/openai-realtime-ha/openai_realtime#talk-in-the-browser-webrtc-card",
  });
}
