/** The request body every target gets. */

/**
 * A chat request as openai-python sends it: `messages` before `model` (its create() serialises
 * keyword arguments in that order), so a proxy that scans for `model` walks the messages first.
 * `padKb` adds earlier conversation turns to make the body about that many KB larger.
 */
export function requestBody(model, stream, padKb = 0) {
  const messages = [{ role: 'system', content: 'You are a helpful assistant. Answer briefly.' }];
  const turn = 'Earlier turn of the conversation, with "quotes" and a \\ backslash, padding the body. '.repeat(10);
  for (let size = 0; size < padKb * 1024; size += turn.length + 40) {
    messages.push({ role: messages.length % 2 ? 'user' : 'assistant', content: turn });
  }
  messages.push({ role: 'user', content: 'Write one paragraph about foxes and dogs, for a benchmark.' });
  return JSON.stringify({ messages, model, temperature: 0.7, max_tokens: 256, ...(stream ? { stream: true } : {}) });
}
