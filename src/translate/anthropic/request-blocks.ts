/**
 * Anthropic content blocks → OpenAI chat content parts: text, images, documents and what a
 * tool_result holds. Media the chat format cannot carry (Anthropic Files API ids, document URLs)
 * becomes a short text note rather than a 400: the model still learns something was there.
 */
import type { ChatContentPart } from '../openai-chat.js';
import { invalid, isObject, text, type Json } from './request-validate.js';

const note = (what: string): ChatContentPart => ({ type: 'text', text: `[${what}]` });

/** An `image` block: base64 and URL sources become `image_url`; a Files API id a note. */
export function imagePart(block: Json, path: string): ChatContentPart {
  const source = block.source;
  if (!isObject(source)) throw invalid(`${path}.source`, 'must be an object');
  if (source.type === 'base64') {
    const url = `data:${text(source.media_type, `${path}.source.media_type`)};base64,${text(source.data, `${path}.source.data`)}`;
    return { type: 'image_url', image_url: { url } };
  }
  if (source.type === 'url') return { type: 'image_url', image_url: { url: text(source.url, `${path}.source.url`) } };
  return note(`image omitted: a ${String(source.type)} image source cannot be forwarded to this model`);
}

/** A `document` block: PDFs become OpenAI `file` parts; text and content documents become text. */
export function documentPart(block: Json, path: string): ChatContentPart {
  const source = block.source;
  if (!isObject(source)) throw invalid(`${path}.source`, 'must be an object');
  const title = typeof block.title === 'string' ? block.title : undefined;
  if (source.type === 'text') return { type: 'text', text: text(source.data, `${path}.source.data`) };
  if (source.type === 'base64') {
    const mediaType = text(source.media_type, `${path}.source.media_type`);
    return { type: 'file', file: { file_data: `data:${mediaType};base64,${text(source.data, `${path}.source.data`)}`, filename: title ?? 'document.pdf' } };
  }
  if (source.type === 'content' && Array.isArray(source.content)) {
    const texts = source.content.filter((b): b is Json => isObject(b) && b.type === 'text' && typeof b.text === 'string').map((b) => b.text as string);
    return { type: 'text', text: texts.join('\n') };
  }
  if (source.type === 'url' && typeof source.url === 'string') return note(`document${title ? ` "${title}"` : ''} at ${source.url}`);
  return note(`document omitted: a ${String(source.type)} document source cannot be forwarded to this model`);
}

/** A `search_result` block (RAG results a client passes in) as plain text with its source. */
function searchResultText(block: Json): string | undefined {
  const body = Array.isArray(block.content) ? block.content.filter((b): b is Json => isObject(b) && typeof b.text === 'string').map((b) => b.text as string) : [];
  if (body.length === 0) return undefined;
  const head = [block.title, block.source].filter((v) => typeof v === 'string' && v !== '').join(' — ');
  return head ? `${head}\n${body.join('\n')}` : body.join('\n');
}

/**
 * A user-side block as a chat part, or undefined for blocks with no meaning upstream (thinking,
 * server tool results, container uploads, ...). tool_result is handled by the caller.
 */
export function userPart(block: Json, path: string): ChatContentPart | undefined {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: text(block.text, `${path}.text`) };
    case 'image':
      return imagePart(block, path);
    case 'document':
      return documentPart(block, path);
    case 'search_result': {
      const body = searchResultText(block);
      return body === undefined ? undefined : { type: 'text', text: body };
    }
    // A tool search's answer (Claude Code's ToolSearch): the named tool is offered from now on.
    case 'tool_reference':
      return typeof block.tool_name === 'string' ? { type: 'text', text: `Tool ${block.tool_name} is loaded and can be called now.` } : undefined;
    default:
      return undefined;
  }
}

/** A tool_result's content as the tool message's text; its images and documents go to `media`. */
export function toolResultText(content: unknown, path: string, media: ChatContentPart[]): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(path, 'must be a string or an array of blocks');
  const texts: string[] = [];
  content.forEach((block, i) => {
    if (typeof block === 'string') return void texts.push(block);
    if (!isObject(block)) return;
    const part = userPart(block, `${path}.${i}`);
    if (part?.type === 'text') texts.push(part.text);
    else if (part) media.push(part);
  });
  return texts.join('\n');
}

/** Text-only content goes as a string (the form every OpenAI-compatible server accepts). */
export function joinParts(parts: ChatContentPart[]): string | ChatContentPart[] {
  if (parts.every((p) => p.type === 'text')) return parts.map((p) => (p as { text: string }).text).join('\n\n');
  return parts;
}
