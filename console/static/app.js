// orgd console: one page calling orgd's public API. The session (access and
// refresh tokens) lives in this script's memory only: nothing is written to
// localStorage, sessionStorage or cookies, so a reload logs out.
'use strict';

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  const session = { access: '', refresh: '', expiresAt: 0, margin: 0, timer: 0, org: null };
  let refreshing = null; // the refresh in flight, shared by concurrent callers
  let routeSeq = 0; // bumped on every route change: late answers of an old view are dropped

  // ---------- Errors in plain words ----------

  // ApiError is an answer other than 2xx, or no answer at all (status 0).
  class ApiError extends Error {
    constructor(status, problem, retryAfter) {
      super(problemText(status, problem || {}, retryAfter));
      this.status = status;
      this.problem = problem || {};
      this.fields = Array.isArray(this.problem.errors) ? this.problem.errors : [];
    }
  }

  function sentence(s) {
    s = String(s).trim();
    if (!s) return s;
    s = s[0].toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + '.';
  }

  function problemText(status, p, retryAfter) {
    if (status === 0) return 'orgd could not be reached. Check your connection, then try again.';
    let text = p.detail || p.title || `orgd answered with status ${status}.`;
    if (text === 'The request has invalid fields.') text = 'Some values were not accepted: see the messages next to them.';
    text = sentence(text);
    const wait = parseInt(retryAfter, 10);
    if ((status === 429 || status === 503) && wait > 0) {
      text += ` Try again in ${wait} second${wait === 1 ? '' : 's'}.`;
    }
    return text;
  }

  // humanize rewords the schema validator's terse messages.
  function humanize(msg, field) {
    let m;
    if ((m = /^expected length >= (\d+)$/.exec(msg))) return `must be at least ${m[1]} characters long`;
    if ((m = /^expected length <= (\d+)$/.exec(msg))) return `must be at most ${m[1]} characters long`;
    if (/^expected string to be RFC 5322 email/.test(msg)) return 'must be an email address such as admin@example.com';
    if (/^expected string to match pattern/.test(msg)) {
      return field === 'organization_name'
        ? 'may hold only letters, digits, _ and -, starting with a letter or digit'
        : 'holds characters that are not allowed';
    }
    if ((m = /^expected number >= (\S+)$/.exec(msg))) return `must be at least ${m[1]}`;
    if ((m = /^expected number <= (\S+)$/.exec(msg))) return `must be at most ${m[1]}`;
    if (/^expected required property/.test(msg)) return 'is required';
    if (/^unexpected property/.test(msg)) return 'is not a field orgd knows';
    return msg;
  }

  async function errorFrom(res) {
    let problem = {};
    try {
      problem = JSON.parse(await res.text());
    } catch {
      problem = { detail: `orgd answered with status ${res.status} ${res.statusText}`.trim() };
    }
    return new ApiError(res.status, problem, res.headers.get('Retry-After'));
  }

  // ---------- The API client ----------

  let inflight = 0;
  let activityTimer = 0;
  function track(delta) {
    inflight += delta;
    clearTimeout(activityTimer);
    if (inflight > 0) {
      activityTimer = setTimeout(() => { $('#activity').hidden = false; }, 150);
    } else {
      $('#activity').hidden = true;
    }
  }

  async function send(method, path, headers, body) {
    track(1);
    try {
      return await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    } catch {
      throw new ApiError(0);
    } finally {
      track(-1);
    }
  }

  // api calls orgd. With auth (the default) it sends the access token,
  // refreshes it when it is about to expire or was refused, and ends the
  // session when no valid token can be had. raw returns the Response.
  async function api(method, path, { json, body, contentType, auth = true, raw = false } = {}) {
    const headers = {};
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (contentType) {
      headers['Content-Type'] = contentType;
    }
    const attempt = () => {
      if (auth) headers.Authorization = 'Bearer ' + session.access;
      return send(method, path, headers, body);
    };
    if (auth) await freshen();
    let res = await attempt();
    if (res.status === 401 && auth && session.access) {
      if (await refreshTokens()) res = await attempt();
      else if (session.refresh) throw notRenewed(); // not refused: orgd was busy or away
      if (res.status === 401) {
        const err = await errorFrom(res);
        sessionEnded(err);
        throw err;
      }
    }
    if (!res.ok) throw await errorFrom(res);
    if (raw) return res;
    if (res.status === 204) return null;
    return res.json();
  }

  // notRenewed is the error of a request whose token could not be renewed
  // because orgd was busy or unreachable: the refresh token was not refused,
  // so the session goes on and a later request tries again.
  function notRenewed() {
    return new ApiError(503, { detail: 'Your session could not be renewed just now: orgd is busy or unreachable. Try again shortly' });
  }

  function setTokens(t) {
    session.access = t.access_token;
    if (t.refresh_token) session.refresh = t.refresh_token; // rotated: the old one is spent
    const ttl = Math.max(1, Number(t.expires_in) || 900) * 1000;
    session.expiresAt = Date.now() + ttl;
    session.margin = Math.min(60000, ttl / 5); // how long before expiry to refresh
    clearTimeout(session.timer);
    if (session.refresh) {
      // Refresh ahead of expiry, so that no request meets an expired token.
      session.timer = setTimeout(refreshTokens, ttl - session.margin);
    }
  }

  async function freshen() {
    if (session.refresh && session.expiresAt - Date.now() < session.margin) await refreshTokens();
  }

  // refreshTokens trades the refresh token for new tokens; false when it
  // cannot (no refresh token, refused, or a server without /admin/refresh).
  function refreshTokens() {
    if (!session.refresh) return Promise.resolve(false);
    if (!refreshing) {
      const spent = session.refresh;
      refreshing = (async () => {
        try {
          const res = await send('POST', '/admin/refresh', { 'Content-Type': 'application/json' },
            JSON.stringify({ refresh_token: spent }));
          if (session.refresh !== spent) return false; // the session ended meanwhile
          if (!res.ok) {
            // Refused (or an orgd without /admin/refresh: 404): do not ask
            // again; the access token serves until it expires. A busy or
            // unreachable server may be asked again later.
            if (res.status < 500 && res.status !== 429) session.refresh = '';
            return false;
          }
          setTokens(await res.json());
          return true;
        } catch {
          return false;
        } finally {
          refreshing = null;
        }
      })();
    }
    return refreshing;
  }

  async function login(email, password) {
    const t = await api('POST', '/admin/login', { json: { email, password }, auth: false });
    session.refresh = '';
    setTokens(t);
    try {
      await loadOrg();
    } catch (err) {
      forget(); // all or nothing: no half-open session
      throw err;
    }
  }

  async function loadOrg() {
    session.org = await api('GET', '/org/get');
    $('#session-org').textContent = session.org.organization_name;
    $('#session-email').textContent = session.org.admin_email || '';
    $('#delete-name').textContent = session.org.organization_name;
    fillDetails();
  }

  // sessionEnded ends a session that orgd no longer accepts, saying why.
  function sessionEnded(err) {
    const why = err.message.charAt(0).toLowerCase() + err.message.slice(1);
    endSession(`Your session has ended: ${why}` + (/log in again/i.test(why) ? '' : ' Log in again.'));
  }

  // forget drops the session's tokens and what came with them.
  function forget() {
    clearTimeout(session.timer);
    Object.assign(session, { access: '', refresh: '', expiresAt: 0, margin: 0, timer: 0, org: null });
  }

  function endSession(message) {
    routeSeq++; // the answers still on their way belong to the ended session
    forget();
    for (const f of $$('form')) {
      f.reset();
      clearErrors(f);
    }
    for (const tb of $$('table.data tbody')) tb.replaceChildren();
    $('#record-json').value = '';
    $('#import-report').hidden = true;
    for (const s of $$('.status')) s.textContent = '';
    for (const dd of $$('#org-details dd')) dd.textContent = '';
    Object.assign(records, { field: '', value: '', limit: 25, cursors: [''], page: 0, next: null });
    audit.cursors = [''];
    audit.page = 0;
    $('#session').hidden = true;
    $('#tabs').hidden = true;
    if (message) notify(message);
    if (location.hash && location.hash !== '#/login') location.hash = '#/login';
    else route();
  }

  // ---------- Notices, forms, progress ----------

  let noticeRoutes = 0; // how many route changes the notice survives
  function notify(message, kind = 'info') {
    const n = $('#notice');
    n.textContent = message;
    n.className = 'notice ' + kind;
    n.hidden = false;
    noticeRoutes = 1;
  }

  function clearErrors(form) {
    for (const p of $$('.field-error', form)) {
      p.hidden = true;
      p.replaceChildren();
    }
    for (const i of $$('[aria-invalid]', form)) i.removeAttribute('aria-invalid');
    const box = $('.form-error', form);
    if (box) {
      box.hidden = true;
      box.replaceChildren();
    }
  }

  let errorIDs = 0;
  function setFieldError(input, message) {
    const p = $('.field-error', input.closest('.field'));
    if (!p.id) p.id = 'field-error-' + ++errorIDs;
    p.textContent = sentence(message);
    p.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    const ids = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    if (!ids.includes(p.id)) input.setAttribute('aria-describedby', [...ids, p.id].join(' '));
  }

  // fieldOf turns an error location (body.email, query.organization_name) into a form field name.
  function fieldOf(location) {
    return String(location || '').replace(/^(body|query|path|header)\.?/, '');
  }

  // showError puts an API error next to what caused it: each field error
  // under its field, the rest and the problem's detail above the form's buttons.
  function showError(form, err, mapField = fieldOf) {
    const box = $('.form-error', form);
    const rest = [];
    let first = null;
    for (const f of err.fields || []) {
      const name = mapField(f.location);
      const input = name && form.elements.namedItem(name);
      if (input && input.closest && input.closest('.field')) {
        setFieldError(input, humanize(f.message, name));
        first = first || input;
      } else {
        rest.push(f);
      }
    }
    box.replaceChildren(document.createTextNode(err.message));
    if (rest.length) box.append(errorList(rest));
    box.hidden = false;
    if (first) first.focus();
  }

  function errorList(fields) {
    const ul = document.createElement('ul');
    for (const f of fields) {
      const li = document.createElement('li');
      const where = fieldOf(f.location);
      if (where) {
        const code = document.createElement('code');
        code.textContent = where;
        li.append(code, ': ');
      }
      li.append(humanize(f.message, where));
      ul.append(li);
    }
    return ul;
  }

  // busy shows that a button's action is running, with a label saying what.
  function busy(button, label) {
    const was = button.textContent;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.classList.add('working');
    button.textContent = label;
    return () => {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      button.classList.remove('working');
      button.textContent = was;
    };
  }

  // onSubmit runs action for a form's submission, with progress and errors shown.
  function onSubmit(form, working, action) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const button = e.submitter || $('button[type=submit]', form);
      if (button.disabled) return;
      clearErrors(form);
      const done = busy(button, working);
      try {
        await action(form);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (form.isConnected && !form.closest('[hidden]')) showError(form, err);
      } finally {
        done();
      }
    });
  }

  // The confirmation dialog answers from its buttons and the Escape key, as
  // they happen: its close event comes later, possibly after it opened again.
  let confirmAnswer = null;
  function answer(ok) {
    const resolve = confirmAnswer;
    confirmAnswer = null;
    if (resolve) resolve(ok);
  }
  $('#confirm form').addEventListener('submit', (e) => answer(!!e.submitter && e.submitter.value === 'ok'));
  $('#confirm').addEventListener('cancel', () => answer(false));

  function confirmDialog(title, text, ok) {
    answer(false);
    $('#confirm-title').textContent = title;
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = ok;
    $('#confirm').showModal();
    $('#confirm-cancel').focus();
    return new Promise((resolve) => { confirmAnswer = resolve; });
  }

  // ---------- Formatting ----------

  const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  function when(v) {
    const d = v instanceof Date ? v : new Date(v);
    return isNaN(d) ? String(v ?? '') : dateFmt.format(d);
  }

  function timeEl(v) {
    const t = document.createElement('time');
    const d = v instanceof Date ? v : new Date(v);
    if (!isNaN(d)) t.dateTime = d.toISOString();
    t.textContent = when(d);
    return t;
  }

  const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  // ulidTime reads the creation time a record id (a ULID) carries.
  function ulidTime(id) {
    if (!/^[0-9A-HJKMNP-TV-Z]{26}$/i.test(id)) return null;
    let ms = 0;
    for (const c of id.slice(0, 10).toUpperCase()) ms = ms * 32 + crockford.indexOf(c);
    return new Date(ms);
  }

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  const count = (n, one, many) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

  // pretty indents JSON text without parsing it into numbers, so that 64-bit
  // integers and the order of fields stay exactly as orgd sent them.
  function pretty(text) {
    let out = '';
    let depth = 0;
    let inString = false;
    let escaped = false;
    const newline = () => '\n' + '  '.repeat(depth);
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        out += c;
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      switch (c) {
        case '"': inString = true; out += c; break;
        case '{': case '[': {
          let j = i + 1;
          while (' \t\r\n'.includes(text[j]) && j < text.length) j++;
          if (text[j] === (c === '{' ? '}' : ']')) {
            out += c + text[j];
            i = j;
          } else {
            depth++;
            out += c + newline();
          }
          break;
        }
        case '}': case ']': depth--; out += newline() + c; break;
        case ',': out += ',' + newline(); break;
        case ':': out += ': '; break;
        case ' ': case '\t': case '\r': case '\n': break;
        default: out += c;
      }
    }
    return out;
  }

  function short(s, max = 48) {
    return s.length > max ? s.slice(0, max - 1) + '…' : s;
  }

  // The JSON scanners below read values as text, like pretty, so that a
  // record's preview shows 64-bit integers and the order of fields (which
  // JavaScript objects change: "10" comes before "b") as orgd sent them.
  const space = (text, i) => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
    return i;
  };

  // valueEnd returns the index just past the JSON value that starts at i.
  function valueEnd(text, i) {
    if (text[i] === '"') {
      for (i++; i < text.length; i++) {
        if (text[i] === '\\') i++;
        else if (text[i] === '"') return i + 1;
      }
      return i;
    }
    if (text[i] === '{' || text[i] === '[') {
      for (let depth = 0; i < text.length; i++) {
        const c = text[i];
        if (c === '"') i = valueEnd(text, i) - 1;
        else if (c === '{' || c === '[') depth++;
        else if ((c === '}' || c === ']') && --depth === 0) return i + 1;
      }
      return i;
    }
    while (i < text.length && !',}] \t\r\n'.includes(text[i])) i++;
    return i;
  }

  // members lists the fields of the JSON object text as [name, value text]
  // pairs, in order; items lists the elements of the JSON array text.
  function members(text) {
    const out = [];
    for (let i = space(text, text.indexOf('{') + 1); text[i] === '"'; ) {
      const end = valueEnd(text, i);
      const name = JSON.parse(text.slice(i, end));
      i = space(text, space(text, end) + 1); // past the ':'
      const v = valueEnd(text, i);
      out.push([name, text.slice(i, v)]);
      i = space(text, v);
      if (text[i] === ',') i = space(text, i + 1);
    }
    return out;
  }
  function items(text) {
    const out = [];
    for (let i = space(text, text.indexOf('[') + 1); i < text.length && text[i] !== ']'; ) {
      const v = valueEnd(text, i);
      out.push(text.slice(i, v));
      i = space(text, v);
      if (text[i] === ',') i = space(text, i + 1);
    }
    return out;
  }

  // kvList previews a record's first fields, from [name, value text] pairs.
  function kvList(pairs, skip = []) {
    const wrap = document.createElement('span');
    wrap.className = 'kvs';
    const shown = pairs.filter(([k]) => !skip.includes(k));
    const keys = shown.map(([k]) => k);
    for (const [k, v] of shown.slice(0, 5)) {
      const s = document.createElement('span');
      s.className = 'kv';
      const key = document.createElement('span');
      key.className = 'k';
      key.textContent = k;
      s.append(key, ' ', short(v[0] === '"' ? JSON.parse(v) : v));
      wrap.append(s);
    }
    if (keys.length > 5) {
      const more = document.createElement('span');
      more.className = 'muted';
      more.textContent = `+${keys.length - 5} more`;
      wrap.append(more);
    }
    if (!keys.length) {
      wrap.classList.add('muted');
      wrap.textContent = '(empty)';
    }
    return wrap;
  }

  function cell(row, content, cls) {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    td.append(content);
    row.append(td);
    return td;
  }

  // ---------- Views ----------

  let shown = ''; // the view on screen
  function show(view, tab) {
    for (const v of $$('.view')) v.hidden = v.id !== 'view-' + view;
    for (const a of $$('#tabs a')) {
      if (a.dataset.tab === tab) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (shown === view && view !== 'record') return; // paging: keep the focus where it is
    shown = view;
    // A new view: bring its heading into focus, as a page load would.
    $(`#view-${view} h1`).focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  function route() {
    const seq = ++routeSeq;
    if (noticeRoutes > 0) noticeRoutes--;
    else $('#notice').hidden = true;
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
    if (!session.access) {
      show('welcome');
      return;
    }
    $('#session').hidden = false;
    $('#tabs').hidden = false;
    switch (parts[0]) {
      case 'records':
        if (parts[1] === 'new') newRecord();
        else if (parts[1]) {
          let id = null;
          try {
            id = decodeURIComponent(parts[1]);
          } catch {
            // a mangled link: say so rather than stop on the exception
          }
          if (id === null) {
            notify('That link does not name a record.', 'error');
            location.replace('#/records');
          } else openRecord(id, seq);
        } else loadRecords(seq);
        break;
      case 'transfer':
        show('transfer', 'transfer');
        break;
      case 'audit':
        loadAudit(seq);
        break;
      case 'settings':
        show('settings', 'settings');
        loadOrg().catch((err) => err instanceof ApiError && seq === routeSeq && notify(err.message, 'error'));
        break;
      default:
        location.replace('#/records');
    }
  }

  // ----- Signed out -----

  let wanted = ''; // the page asked for before logging in

  onSubmit($('#login-form'), 'Logging in…', async (f) => {
    await login(f.email.value.trim(), f.password.value);
    f.reset();
    enter();
  });

  onSubmit($('#signup-form'), 'Creating…', async (f) => {
    const org = await api('POST', '/org/create', {
      auth: false,
      json: { organization_name: f.organization_name.value.trim(), email: f.email.value.trim(), password: f.password.value },
    });
    try {
      await login(org.admin_email, f.password.value);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      f.reset();
      $('#login-email').value = org.admin_email;
      $('#login-password').focus();
      notify(`Organization ${org.organization_name} was created, but logging in failed: ${err.message} Log in below.`, 'error');
      return;
    }
    f.reset();
    enter(`Organization ${org.organization_name} created, with its collection ${org.collection_name}.`, '#/settings');
  });

  function enter(message, where) {
    const target = wanted || where || '#/records';
    wanted = '';
    if (message) notify(message, 'success');
    if (location.hash === target) route();
    else location.hash = target;
  }

  $('#logout').addEventListener('click', async (e) => {
    const done = busy(e.currentTarget, 'Logging out…');
    try {
      // Revoke this login on the server when it can (with a token that is
      // still valid); forget it here in any case.
      await freshen();
      await send('POST', '/admin/logout', { Authorization: 'Bearer ' + session.access });
    } catch {
      // The tokens are dropped below; an unreachable server cannot be told.
    } finally {
      done();
    }
    endSession('You are logged out.');
  });

  // ----- Records -----

  const records = { limit: 25, field: '', value: '', cursors: [''], page: 0, next: null };

  async function loadRecords(seq) {
    show('records', 'records');
    const form = $('#filter-form');
    const table = $('#records-table');
    const q = new URLSearchParams({ limit: String(records.limit) });
    if (records.cursors[records.page]) q.set('after', records.cursors[records.page]);
    if (records.field) q.set('where.' + records.field, records.value);
    table.setAttribute('aria-busy', 'true');
    clearErrors(form);
    let page, texts;
    try {
      const text = await (await api('GET', '/org/records?' + q, { raw: true })).text();
      page = JSON.parse(text);
      texts = items(members(text).find(([k]) => k === 'records')[1]);
    } catch (err) {
      if (err instanceof ApiError && seq === routeSeq) {
        showError(form, err, (loc) => (String(loc).startsWith('query.where.') ? 'field' : fieldOf(loc)));
      }
      return;
    } finally {
      table.removeAttribute('aria-busy');
    }
    if (seq !== routeSeq) return;
    records.next = page.next;
    const body = $('tbody', table);
    body.replaceChildren(...page.records.map((r, i) => {
      const tr = document.createElement('tr');
      const a = document.createElement('a');
      a.href = '#/records/' + encodeURIComponent(r.id);
      a.className = 'mono';
      a.textContent = r.id;
      a.setAttribute('aria-label', 'Record ' + r.id);
      cell(tr, a);
      cell(tr, kvList(members(texts[i]), ['id']));
      const t = ulidTime(r.id);
      cell(tr, t ? timeEl(t) : '', 'wide-only nowrap');
      return tr;
    }));
    const empty = $('#records-empty');
    empty.hidden = page.records.length > 0;
    empty.textContent = records.field
      ? `No records where ${records.field} is ${JSON.stringify(records.value)}.`
      : records.page > 0 ? 'No more records.' : 'No records yet: create one, or import a file.';
    const from = records.page * records.limit;
    $('#records-pos').textContent = page.records.length
      ? `Page ${records.page + 1} · records ${from + 1}–${from + page.records.length}`
      : '';
    $('#records-prev').disabled = records.page === 0;
    $('#records-next').disabled = !page.next;
  }

  function reloadRecords() {
    records.cursors = [''];
    records.page = 0;
    loadRecords(++routeSeq);
  }

  $('#filter-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = e.currentTarget;
    records.field = f.field.value.trim();
    records.value = f.value.value;
    records.limit = Number(f.limit.value);
    reloadRecords();
  });
  $('#filter-clear').addEventListener('click', () => {
    const f = $('#filter-form');
    f.field.value = '';
    f.value.value = '';
    records.field = '';
    records.value = '';
    reloadRecords();
  });
  $('#page-size').addEventListener('change', (e) => {
    records.limit = Number(e.currentTarget.value);
    reloadRecords();
  });
  $('#records-next').addEventListener('click', () => {
    if (!records.next) return;
    records.cursors[records.page + 1] = records.next;
    records.page++;
    loadRecords(++routeSeq);
  });
  $('#records-prev').addEventListener('click', () => {
    if (records.page === 0) return;
    records.page--;
    loadRecords(++routeSeq);
  });

  // ----- One record -----

  let recordID = ''; // the record in the editor; '' for a new one

  function newRecord() {
    recordID = '';
    show('record', 'records');
    const f = $('#record-form');
    clearErrors(f);
    $('#record-h').textContent = 'New record';
    $('#record-meta').textContent = 'Write the record as a JSON object. orgd assigns its id when you create it.';
    $('#record-save').textContent = 'Create record';
    $('#record-save').disabled = false;
    $('#record-delete').hidden = true;
    const ta = $('#record-json');
    ta.readOnly = false;
    ta.value = '{\n  "name": "",\n  "status": "active"\n}';
  }

  async function openRecord(id, seq) {
    recordID = id;
    show('record', 'records');
    const f = $('#record-form');
    clearErrors(f);
    $('#record-h').textContent = 'Record';
    const t = ulidTime(id);
    $('#record-meta').textContent = `Id ${id}` + (t ? ` · created ${when(t)}` : '');
    $('#record-save').textContent = 'Save';
    $('#record-delete').hidden = false;
    const ta = $('#record-json');
    ta.value = 'Loading…';
    ta.readOnly = true;
    $('#record-save').disabled = true;
    try {
      const res = await api('GET', '/org/records/' + encodeURIComponent(id), { raw: true });
      const text = await res.text();
      if (seq !== routeSeq) return;
      ta.value = pretty(text);
      ta.readOnly = false;
      $('#record-save').disabled = false;
    } catch (err) {
      if (!(err instanceof ApiError) || seq !== routeSeq) return;
      ta.value = '';
      showError(f, err);
    }
  }

  // showRecordError lists every problem with the record next to the editor.
  function showRecordError(err, text) {
    const box = $('#record-json-error');
    const ta = $('#record-json');
    box.replaceChildren();
    const lead = document.createElement('p');
    lead.textContent = err.fields.length ? 'orgd did not accept this record:' : err.message;
    box.append(lead);
    if (err.fields.length) {
      box.append(errorList(err.fields.map((f) => ({ ...f, location: f.location === 'body' ? 'record' : f.location }))));
    }
    if (err.status === 400) {
      const at = parseError(text);
      if (at) {
        const where = document.createElement('p');
        where.textContent = `The browser's parser stops at line ${at.line}, column ${at.column}: ${at.message}`;
        box.append(where);
        ta.setSelectionRange(at.offset, at.offset);
      }
    }
    if (!box.id) box.id = 'record-json-error';
    box.hidden = false;
    ta.setAttribute('aria-invalid', 'true');
    ta.setAttribute('aria-describedby', 'record-json-hint record-json-error');
    ta.focus();
  }

  // parseError locates a JSON syntax error in text, or returns null.
  // syntaxErrorAt returns the offset where text stops being JSON, or -1:
  // the browser's message does not always say (Chromium's "Unexpected
  // token 'w', ... is not valid JSON" has no position).
  function syntaxErrorAt(text) {
    let i = 0;
    const fail = () => { throw i; };
    const ws = () => { i = space(text, i); };
    const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    const string = () => {
      for (i++; i < text.length; i++) {
        const c = text[i];
        if (c === '"') { i++; return; }
        if (c < ' ') fail();
        if (c === '\\') {
          i++;
          if (text[i] === 'u') {
            if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
            i += 4;
          } else if (!'"\\/bfnrt'.includes(text[i]) || i >= text.length) fail();
        }
      }
      fail();
    };
    const sequence = (close, item) => {
      i++;
      ws();
      if (text[i] === close) { i++; return; }
      for (;;) {
        item();
        ws();
        if (text[i] === close) { i++; return; }
        if (text[i] !== ',') fail();
        i++;
      }
    };
    const value = () => {
      ws();
      const c = text[i];
      if (c === '{') {
        sequence('}', () => {
          ws();
          if (text[i] !== '"') fail();
          string();
          ws();
          if (text[i] !== ':') fail();
          i++;
          value();
        });
      } else if (c === '[') sequence(']', value);
      else if (c === '"') string();
      else if (['true', 'false', 'null'].some((w) => text.startsWith(w, i) && (i += w.length))) return;
      else {
        number.lastIndex = i;
        const m = number.exec(text);
        if (!m) fail();
        i += m[0].length;
      }
    };
    try {
      value();
      ws();
      if (i < text.length) fail();
      return -1;
    } catch (at) {
      if (typeof at !== 'number') throw at;
      return Math.min(at, text.length);
    }
  }

  function parseError(text) {
    try {
      JSON.parse(text);
      return null;
    } catch (e) {
      const m = /position (\d+)/.exec(e.message);
      const at = m ? -1 : syntaxErrorAt(text);
      const offset = m ? Number(m[1]) : at >= 0 ? at : text.length;
      const before = text.slice(0, offset).split('\n');
      const message = e.message.replace(/\s*\(line \d+ column \d+\)/, '').replace(/ in JSON at position \d+/, '');
      return { offset, line: before.length, column: before[before.length - 1].length + 1, message: sentence(message) };
    }
  }

  onSubmit($('#record-form'), 'Saving…', async (f) => {
    const text = f.body.value;
    f.body.removeAttribute('aria-invalid');
    try {
      if (!recordID) {
        const created = await api('POST', '/org/records', { body: text, contentType: 'application/json' });
        notify(`Record ${created.id} created.`, 'success');
        location.hash = '#/records/' + encodeURIComponent(created.id);
        return;
      }
      const res = await api('PUT', '/org/records/' + encodeURIComponent(recordID),
        { body: text, contentType: 'application/json', raw: true });
      f.body.value = pretty(await res.text());
      notify('Record saved.', 'success');
      noticeRoutes = 0;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status === 401 || err.status === 0 || err.status >= 500 ||
          err.status === 404 || err.status === 409) throw err;
      showRecordError(err, text);
    }
  });

  $('#record-format').addEventListener('click', () => {
    const f = $('#record-form');
    clearErrors(f);
    const at = parseError(f.body.value);
    if (at) {
      showRecordError(new ApiError(400, { detail: 'This is not valid JSON yet' }), f.body.value);
      return;
    }
    f.body.value = pretty(f.body.value);
  });

  $('#record-delete').addEventListener('click', async (e) => {
    const button = e.currentTarget; // set only while the event is dispatched
    const id = recordID;
    if (!id || !(await confirmDialog('Delete this record?', `Record ${id} will be deleted. This cannot be undone.`, 'Delete record'))) return;
    const f = $('#record-form');
    clearErrors(f);
    const done = busy(button, 'Deleting…');
    try {
      await api('DELETE', '/org/records/' + encodeURIComponent(id));
      notify(`Record ${id} deleted.`, 'success');
      location.hash = '#/records';
    } catch (err) {
      if (err instanceof ApiError) showError(f, err);
    } finally {
      done();
    }
  });

  // ----- Import and export -----

  $('#export-button').addEventListener('click', async (e) => {
    const card = $('#export-card');
    const status = $('#export-status');
    clearErrors(card);
    const done = busy(e.currentTarget, 'Exporting…');
    status.textContent = 'Asking orgd for the records…';
    try {
      const res = await api('GET', '/org/export', { raw: true });
      const reader = res.body.getReader();
      const chunks = [];
      let size = 0;
      let lines = 0;
      let shown = 0;
      for (;;) {
        let part;
        try {
          part = await reader.read();
        } catch {
          throw new ApiError(502, { detail: 'The export was cut short before the end; try again' });
        }
        if (part.done) break;
        chunks.push(part.value);
        size += part.value.length;
        for (const b of part.value) if (b === 10) lines++;
        if (Date.now() - shown > 100) {
          shown = Date.now();
          status.textContent = `Downloading… ${count(lines, 'record', 'records')}, ${bytes(size)}`;
        }
      }
      const url = URL.createObjectURL(new Blob(chunks, { type: 'application/x-ndjson' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${session.org ? session.org.organization_name : 'orgd'}-records-${new Date().toISOString().slice(0, 10)}.ndjson`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      status.textContent = `Exported ${count(lines, 'record', 'records')} (${bytes(size)}) to ${a.download}.`;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      status.textContent = '';
      const box = $('.form-error', card);
      box.textContent = err.message;
      box.hidden = false;
    } finally {
      done();
    }
  });

  // upload sends the file with the upload's progress shown; fetch cannot report it.
  function upload(file, onProgress) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open('POST', '/org/import');
      x.setRequestHeader('Authorization', 'Bearer ' + session.access);
      x.setRequestHeader('Content-Type', 'application/x-ndjson');
      x.upload.addEventListener('progress', (e) => e.lengthComputable && onProgress(e.loaded / e.total));
      x.upload.addEventListener('load', () => onProgress(1));
      x.addEventListener('load', () => resolve(x));
      x.addEventListener('error', () => reject(new ApiError(0)));
      track(1);
      x.addEventListener('loadend', () => track(-1));
      x.send(file);
    });
  }

  onSubmit($('#import-form'), 'Importing…', async (f) => {
    const file = f.file.files[0];
    const status = $('#import-status');
    const bar = $('#import-progress');
    const report = $('#import-report');
    report.hidden = true;
    if (!file) {
      setFieldError(f.file, 'choose an NDJSON file to import');
      f.file.focus();
      return;
    }
    const progress = (share) => {
      if (share < 1) {
        bar.value = Math.round(share * 100);
        status.textContent = `Uploading ${file.name}: ${Math.round(share * 100)}% of ${bytes(file.size)}`;
      } else {
        bar.removeAttribute('value'); // indeterminate: orgd is storing the records
        status.textContent = `Uploaded ${bytes(file.size)}; orgd is storing the records…`;
      }
    };
    bar.hidden = false;
    bar.value = 0;
    try {
      await freshen();
      let x = await upload(file, progress);
      if (x.status === 401) {
        if (await refreshTokens()) x = await upload(file, progress);
        else if (session.refresh) throw notRenewed();
      }
      if (x.status < 200 || x.status > 299) {
        let problem = {};
        try { problem = JSON.parse(x.responseText); } catch { problem = {}; }
        const err = new ApiError(x.status, problem, x.getResponseHeader('Retry-After'));
        if (x.status === 401) sessionEnded(err);
        throw err;
      }
      const rep = JSON.parse(x.responseText);
      status.textContent = `Imported ${count(rep.imported, 'record', 'records')} from ${file.name}` +
        (rep.rejected_total ? `; ${count(rep.rejected_total, 'line was', 'lines were')} rejected.` : '; no line was rejected.');
      const rows = rep.rejected.map((r) => {
        const tr = document.createElement('tr');
        cell(tr, String(r.line), 'num');
        cell(tr, r.error);
        return tr;
      });
      $('tbody', report).replaceChildren(...rows);
      const more = $('#import-more');
      more.hidden = rep.rejected_total <= rep.rejected.length;
      more.textContent = `The first ${rep.rejected.length.toLocaleString()} rejected lines are listed; ${count(rep.rejected_total - rep.rejected.length, 'more was', 'more were')} rejected.`;
      report.hidden = rows.length === 0;
      records.cursors = [''];
      records.page = 0;
    } catch (err) {
      status.textContent = '';
      throw err;
    } finally {
      bar.hidden = true;
    }
  });

  // ----- Audit log -----

  const audit = { limit: 20, cursors: [''], page: 0, next: null };

  // The audit log's event types, in words.
  const eventNames = {
    'organization.created': 'Organization created',
    'organization.renamed': 'Organization renamed',
    'organization.deleted': 'Organization deleted',
    'admin.email_changed': 'Admin email changed',
    'admin.password_changed': 'Password changed',
    'auth.login': 'Log in',
    'auth.refresh': 'Session refreshed',
    'auth.logout': 'Log out',
    'auth.token_reuse': 'Refresh token used twice',
    'auth.lockout': 'Logins locked',
  };
  const eventName = (type) => eventNames[type] || sentence(String(type || 'event').replace(/[._]+/g, ' ')).replace(/\.$/, '');

  // me is the admin id the access token names, to tell "you" in the log.
  function me() {
    try {
      const part = session.access.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(part)).sub || '';
    } catch {
      return '';
    }
  }

  // eventDetails says what an event's details say: a change as from → to,
  // any other detail as a labelled value.
  function eventDetails(d = {}) {
    const wrap = document.createElement('span');
    wrap.className = 'kvs';
    const rest = { ...d };
    if (d.from !== undefined && d.to !== undefined) {
      const change = document.createElement('span');
      change.className = 'kv';
      change.textContent = `${d.from} → ${d.to}`;
      wrap.append(change);
      delete rest.from;
      delete rest.to;
    }
    for (const [k, v] of Object.entries(rest)) {
      if (k.endsWith('_id')) continue; // internal ids say nothing to a person
      const s = document.createElement('span');
      s.className = 'kv';
      const key = document.createElement('span');
      key.className = 'k';
      key.textContent = k.replace(/_/g, ' ');
      s.append(key, ' ', String(v).replace(/_/g, ' '));
      wrap.append(s);
    }
    return wrap;
  }

  async function loadAudit(seq) {
    show('audit', 'audit');
    const errBox = $('#audit-error');
    errBox.hidden = true;
    const q = new URLSearchParams({ limit: String(audit.limit) });
    if (audit.cursors[audit.page]) q.set('after', audit.cursors[audit.page]);
    let page;
    try {
      page = await api('GET', '/org/audit?' + q);
    } catch (err) {
      if (!(err instanceof ApiError) || seq !== routeSeq) return;
      const missing = err.status === 404 || err.status === 405; // an orgd without an audit log
      $('#audit-unavailable').hidden = !missing;
      $('#audit-wrap').hidden = missing;
      if (!missing) {
        errBox.textContent = err.message;
        errBox.hidden = false;
      }
      $('#audit-prev').disabled = true;
      $('#audit-next').disabled = true;
      return;
    }
    if (seq !== routeSeq) return;
    $('#audit-unavailable').hidden = true;
    $('#audit-wrap').hidden = false;
    const events = page.events || [];
    const you = me();
    audit.next = page.next || null;
    $('#audit-table tbody').replaceChildren(...events.map((ev) => {
      const tr = document.createElement('tr');
      cell(tr, ev.time ? timeEl(ev.time) : '', 'nowrap');
      cell(tr, eventName(ev.type));
      const badge = document.createElement('span');
      badge.className = 'badge ' + (ev.outcome === 'success' ? 'good' : ev.outcome ? 'bad' : '');
      badge.textContent = ev.outcome || '—';
      cell(tr, badge);
      cell(tr, ev.actor && ev.actor === you ? 'you' : ev.actor === 'anonymous' || ev.actor === 'operator' ? ev.actor : 'admin', 'wide-only');
      cell(tr, ev.client_address || '', 'wide-only mono');
      cell(tr, eventDetails(ev.details), 'wide-only');
      return tr;
    }));
    $('#audit-empty').hidden = events.length > 0;
    $('#audit-pos').textContent = events.length ? `Page ${audit.page + 1}` : '';
    $('#audit-prev').disabled = audit.page === 0;
    $('#audit-next').disabled = !audit.next;
  }

  $('#audit-next').addEventListener('click', () => {
    if (!audit.next) return;
    audit.cursors[audit.page + 1] = audit.next;
    audit.page++;
    loadAudit(++routeSeq);
  });
  $('#audit-prev').addEventListener('click', () => {
    if (audit.page === 0) return;
    audit.page--;
    loadAudit(++routeSeq);
  });

  // ----- The organization -----

  function fillDetails() {
    const o = session.org || {};
    for (const dd of $$('#org-details dd')) {
      const v = o[dd.dataset.key];
      if (dd.dataset.key.endsWith('_at')) dd.replaceChildren(v ? timeEl(v) : '');
      else dd.textContent = v ?? '';
    }
    $('#password-username').value = o.admin_email || '';
    deleteMatches();
  }

  async function updateOrg(change) {
    session.org = await api('PUT', '/org/update', { json: change });
    $('#session-org').textContent = session.org.organization_name;
    $('#session-email').textContent = session.org.admin_email || '';
    $('#delete-name').textContent = session.org.organization_name;
    fillDetails();
  }

  onSubmit($('#rename-form'), 'Renaming…', async (f) => {
    const name = f.organization_name.value.trim();
    await updateOrg({ organization_name: name });
    f.reset();
    notify(`Renamed to ${session.org.organization_name}: the records are now in ${session.org.collection_name}.`, 'success');
  });

  onSubmit($('#email-form'), 'Changing…', async (f) => {
    await updateOrg({ email: f.email.value.trim() });
    f.reset();
    notify(`The admin email is now ${session.org.admin_email}.`, 'success');
  });

  onSubmit($('#password-form'), 'Changing…', async (f) => {
    if (f.password.value !== f.repeat.value) {
      setFieldError(f.repeat, 'the two passwords are not the same');
      f.repeat.focus();
      return;
    }
    const password = f.password.value;
    await updateOrg({ password });
    f.reset();
    // A new password ends the sessions of the old one, this one included:
    // log in again with the new one so that the admin can carry on.
    try {
      await login(session.org.admin_email, password);
      notify('Password changed. Sessions that used the old password have ended; this one continues.', 'success');
    } catch {
      endSession('Password changed. Log in with your new password.');
    }
  });

  function deleteMatches() {
    const ok = !!session.org && $('#delete-confirm').value.trim() === session.org.organization_name;
    $('#delete-button').disabled = !ok;
    return ok;
  }
  $('#delete-confirm').addEventListener('input', deleteMatches);

  onSubmit($('#delete-form'), 'Deleting…', async (f) => {
    if (!deleteMatches()) {
      setFieldError(f.confirm, `type ${session.org.organization_name} exactly to confirm`);
      return;
    }
    const name = session.org.organization_name;
    await api('DELETE', '/org/delete?' + new URLSearchParams({ organization_name: name }));
    endSession(`Organization ${name} was deleted, with its admin and every record.`);
  });

  // ---------- Start ----------

  window.addEventListener('hashchange', () => {
    if (!session.access && location.hash && location.hash !== '#/login') wanted = location.hash;
    route();
  });
  if (location.hash && location.hash !== '#/login') wanted = location.hash;
  route();
})();
