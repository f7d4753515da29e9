// The local chat page: the Lex Web UI's streaming behaviour, without the Web UI.
//
// - By default it sends what the stock Lex Web UI (0.24.1) sends: its session id is
//   "lex-web-ui-" + 4 random hex digits, new per page load, used for the socket and for
//   Lex alike; the connect URL is presigned for an hour with only the host name (no port)
//   signed; every turn sets streamingEndpoint to the socket URL with wss:// turned into
//   https:// (ws:// stays) and streamingDynamoDbTable. With sessionIds "identity" it
//   uses its Cognito identity id instead, as a patched client may.
// - The socket sends {"action":"ping"} on open and then every 9 minutes, because API
//   Gateway closes sockets that stay idle for 10.
// - Every frame is appended to the answer being written, the last one included.
// - When RecognizeText returns, the streamed text is replaced by the final message,
//   rendered as Markdown.
// - A dropped socket is reopened with a growing delay.

import { renderMarkdown } from "./markdown.js";
import { presignUrl } from "./sigv4.js";

const IDENTITY_KEY = "lexstream.identityId";
// The Web UI's client ignores this frame; a fulfillment may send it to mark the end.
const STOP_FRAME = "/stop/";
const MAX_RECONNECT_DELAY_MS = 15000;
const STOCK_SESSION_PREFIX = "lex-web-ui-";
// How long the stock client's presigned connect URL stays valid.
const PRESIGN_SECONDS = 3600;
// Refresh credentials this long before they expire.
const CREDENTIAL_MARGIN_S = 60;

class StreamingChat {
  constructor(config, page) {
    this.config = config;
    this.page = page;
    this.credentials = null;
    this.socket = null;
    this.heartbeat = null;
    this.reconnectDelayMs = config.reconnectDelayMs;
    this.turn = null;
    // One of only 65,536 ids, drawn once per page load, as the stock client draws it.
    const hex = Math.floor(Math.random() * 0x10000).toString(16).padStart(4, "0");
    this.pageSessionId = STOCK_SESSION_PREFIX + hex;
  }

  get sessionId() {
    return this.config.sessionIds === "identity" ? this.credentials.identityId : this.pageSessionId;
  }

  async refreshCredentials() {
    const now = Date.now() / 1000;
    if (this.credentials && this.credentials.expiration - CREDENTIAL_MARGIN_S > now) return;
    const known = this.credentials?.identityId ?? localStorage.getItem(IDENTITY_KEY);
    let response = await this.requestIdentity(known);
    if (response.status === 400 && known) response = await this.requestIdentity(null);
    if (!response.ok) throw new Error(`identity request failed with HTTP ${response.status}`);
    this.credentials = await response.json();
    localStorage.setItem(IDENTITY_KEY, this.credentials.identityId);
  }

  requestIdentity(identityId) {
    return fetch("identity", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(identityId ? { identityId } : {}),
    });
  }

  async connect() {
    this.setStatus("connecting");
    try {
      await this.refreshCredentials();
      const query = `sessionId=${encodeURIComponent(this.sessionId)}`;
      let url = `${this.config.streamingWebSocketEndpoint}?${query}`;
      if (this.config.authMode === "iam") {
        url = await presignUrl(url, this.credentials, this.config.region, PRESIGN_SECONDS);
      }
      this.open(url);
    } catch (error) {
      console.error(error);
      this.scheduleReconnect();
    }
  }

  open(url) {
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.reconnectDelayMs = this.config.reconnectDelayMs;
      this.setStatus("connected");
      this.ping();
      this.heartbeat = setInterval(() => this.ping(), this.config.pingIntervalMs);
    });
    socket.addEventListener("message", (event) => this.onFrame(event.data));
    socket.addEventListener("close", () => {
      clearInterval(this.heartbeat);
      if (this.socket === socket) this.scheduleReconnect();
    });
  }

  ping() {
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ action: "ping" }));
    }
  }

  scheduleReconnect() {
    this.setStatus("reconnecting");
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(delay * 2, MAX_RECONNECT_DELAY_MS);
    setTimeout(() => this.connect(), delay);
  }

  onFrame(data) {
    if (typeof data !== "string" || data === STOP_FRAME || this.turn === null) return;
    const turn = this.turn;
    turn.streamed += data;
    turn.frames += 1;
    turn.bubble.textContent = turn.streamed;
    turn.bubble.dataset.streamed = turn.streamed;
    turn.bubble.dataset.frames = String(turn.frames);
    turn.bubble.classList.add("streaming");
    this.page.scrollToEnd();
  }

  async ask(question) {
    this.page.addMessage("user", question);
    const bubble = this.page.addMessage("bot", "");
    bubble.classList.add("pending");
    this.turn = { bubble, streamed: "", frames: 0 };
    const turn = this.turn;
    try {
      await this.refreshCredentials();
      const path = this.config.recognizeTextPath.replace(
        "{sessionId}",
        encodeURIComponent(this.sessionId),
      );
      // As the Web UI does on every typed turn while streaming is allowed.
      const sessionAttributes = {
        streamingEndpoint: this.config.streamingWebSocketEndpoint.replace("wss://", "https://"),
        streamingDynamoDbTable: this.config.streamingDynamoDbTable,
      };
      const response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: question, sessionState: { sessionAttributes } }),
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
      const text = (answer.messages || []).map((message) => message.content).join("\n\n");
      this.finish(turn, renderMarkdown(text || "(no answer)"), "final");
    } catch (error) {
      this.finish(turn, `<p>Sorry, that did not work: ${escapeText(error.message)}</p>`, "error");
    }
  }

  finish(turn, html, state) {
    if (this.turn === turn) this.turn = null;
    turn.bubble.innerHTML = html;
    turn.bubble.classList.remove("pending", "streaming");
    turn.bubble.classList.add(state);
    this.page.scrollToEnd();
  }

  setStatus(status) {
    this.page.status.textContent = status;
    this.page.status.dataset.state = status;
  }
}

function escapeText(text) {
  const holder = document.createElement("span");
  holder.textContent = text;
  return holder.innerHTML;
}

class ChatPage {
  constructor(root) {
    this.log = root.querySelector("#messages");
    this.status = root.querySelector("#status");
    this.form = root.querySelector("#composer");
    this.input = root.querySelector("#question");
  }

  addMessage(author, text) {
    const bubble = document.createElement("div");
    bubble.className = `message ${author}`;
    bubble.textContent = text;
    this.log.append(bubble);
    this.scrollToEnd();
    return bubble;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
  }
}

async function main() {
  const config = await (await fetch("config.json")).json();
  const page = new ChatPage(document);
  const chat = new StreamingChat(config, page);
  page.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = page.input.value.trim();
    if (!question) return;
    page.input.value = "";
    chat.ask(question);
  });
  window.lexstreamChat = chat; // for debugging from the console
  await chat.connect();
}

main();
