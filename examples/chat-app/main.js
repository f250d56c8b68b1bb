// A chat: messages come in over the WebSocket, the last 50 are kept in db for new pages.
socket.on("message", (text, client) => {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return; // not ours
  }
  const entry = {
    name: String(msg.name || "someone").slice(0, 40),
    text: String(msg.text || "").slice(0, 500),
    at: new Date().toISOString(),
  };
  if (!entry.text) return;
  const history = db.get("history") || [];
  history.push(entry);
  db.set("history", history.slice(-50));
  socket.broadcast(entry);
});

if (req.path === "/history") {
  res.json(db.get("history") || []);
} else {
  res.status(404).send("not found");
}
