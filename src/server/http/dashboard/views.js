// The dashboard's views. Each `mount(main, app, args)` builds its page once and returns
// `{ refresh }`, which the app calls every stats interval to fill in fresh numbers; forms are
// built once so that a refresh never eats what someone is typing.
import { drawChart, ratesOf } from './chart.js';
import { bytes, fill, formValues, h, ms, num, rate } from './dom.js';

const PAGE_SIZE = 20;

/** A table with sortable headers; `update(rows)` refills its body. */
function table(columns, { sort = null, reverse = false, onSort = null, onRow = null, empty = 'Nothing here.' } = {}) {
  const head = columns.map((c) => {
    const th = h('th', { class: c.num ? 'num' : null, dataset: c.sort ? { sort: c.sort } : {} }, c.label);
    if (c.sort && onSort) th.addEventListener('click', () => onSort(c.sort));
    if (c.sort && c.sort === sort) th.classList.add('sorted', ...(reverse ? ['reverse'] : []));
    return th;
  });
  const tbody = h('tbody');
  const el = h('table', {}, h('thead', {}, h('tr', {}, head)), tbody);
  return {
    el,
    setSort(s, r) {
      for (const th of head) {
        th.classList.toggle('sorted', th.dataset.sort === s);
        th.classList.toggle('reverse', th.dataset.sort === s && r);
      }
    },
    update(rows) {
      if (rows.length === 0) return fill(tbody, h('tr', {}, h('td', { class: 'empty', colspan: columns.length }, empty)));
      fill(
        tbody,
        rows.map((r) => {
          const tr = h('tr', { class: onRow ? 'link' : null }, columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.render(r))));
          if (onRow) tr.addEventListener('click', (e) => e.target.closest('button') === null && onRow(r));
          return tr;
        }),
      );
    },
  };
}

function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...children);
}

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** Submits a form through `f`, saying what happened; errors show the server's reason. */
function onSubmit(form, app, f) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const done = await f(formValues(form));
      if (done) app.say(done);
    } catch (err) {
      app.say(err.message, 'error');
    }
  });
  return form;
}

async function act(app, f, done) {
  try {
    await f();
    app.say(done);
  } catch (err) {
    app.say(err.message, 'error');
  }
}

// ---- overview ----

const SERIES = [
  ['publish', 'publish', '#1f6feb'],
  ['deliver_get', 'deliver', '#2e7d32'],
  ['ack', 'ack', '#f59e0b'],
  ['redeliver', 'redeliver', '#c62828'],
];

const overview = {
  mount(main, app) {
    const totals = h('div', { class: 'totals', id: 'totals' });
    const canvas = h('canvas', { class: 'chart', id: 'rates-chart', width: 800, height: 260 });
    const legend = h('div', { class: 'legend' }, SERIES.map(([key, label]) => h('span', { class: `swatch-${key}` }, label)));
    const rates = h('div', { id: 'rates' });
    const node = h('div', { id: 'node' });
    fill(main, card('Totals', totals), h('div', { class: 'grid2' }, card('Message rates', canvas, legend, rates), card('Node', node)));
    return {
      async refresh() {
        // The API gives at most 500 samples: ten minutes, or less at a fine interval.
        const incr = Math.max(1, Math.round(app.statsInterval / 1000));
        const [o, [n]] = await Promise.all([app.api(`/api/overview?msg_rates_age=${Math.min(600, 500 * incr)}&msg_rates_incr=${incr}`), app.api('/api/nodes')]);
        const t = o.object_totals;
        const q = o.queue_totals;
        const tile = (label, value, id) => h('div', { class: 'total', dataset: { total: id } }, h('div', { class: 'value' }, num(value)), h('div', { class: 'label' }, label));
        fill(
          totals,
          tile('Queues', t.queues, 'queues'),
          tile('Ready', q.messages_ready, 'ready'),
          tile('Unacked', q.messages_unacknowledged, 'unacked'),
          tile('Connections', t.connections, 'connections'),
          tile('Channels', t.channels, 'channels'),
          tile('Consumers', t.consumers, 'consumers'),
          tile('Exchanges', t.exchanges, 'exchanges'),
        );
        const m = o.message_stats;
        drawChart(
          canvas,
          SERIES.map(([key, label, color]) => ({ label, color, points: ratesOf(m[`${key}_details`].samples ?? []) })),
        );
        fill(
          rates,
          kv([
            ['publish', rate(m.publish_details)],
            ['deliver / get', rate(m.deliver_get_details)],
            ['ack', rate(m.ack_details)],
            ['confirm', rate(m.confirm_details)],
            ['redeliver', rate(m.redeliver_details)],
            ['returned (unroutable)', rate(m.return_unroutable_details)],
            ['dropped (unroutable)', rate(m.drop_unroutable_details)],
          ]),
        );
        const alarms = o.alarms ?? [];
        const s = n.store;
        fill(
          node,
          kv([
            ['alarms', alarms.length ? h('span', { class: 'alarm', id: 'alarms' }, alarms.join(', ')) : h('span', { class: 'fine', id: 'alarms' }, 'none')],
            ['memory (RSS)', bytes(n.mem_used)],
            ['queued messages', `${bytes(n.queued_bytes)}${n.mem_limit ? ` of ${bytes(n.mem_limit)}` : ''}`],
            ['disk free', `${bytes(n.disk_free)}${n.disk_free_limit ? ` (limit ${bytes(n.disk_free_limit)})` : ''}`],
            ['store lag', s ? h('span', { id: 'store-lag' }, ms(s.checkpointLagMs)) : 'no store'],
            ['store pending', s ? bytes(s.pendingBytes) : '–'],
            ['file descriptors', `${num(n.fd_used)} of ${num(n.fd_total)}`],
            ['uptime', ms(n.uptime)],
            ['version', `${o.product_name} ${o.product_version}`],
          ]),
        );
      },
    };
  },
};

// ---- queues ----

function queueList(main, app) {
  const state = { page: 1, sort: 'name', reverse: false, name: '' };
  const cols = [
    { label: 'Name', sort: 'name', render: (q) => [q.name, q.durable ? h('span', { class: 'badge' }, 'D') : null, q.auto_delete ? h('span', { class: 'badge' }, 'AD') : null, q.exclusive ? h('span', { class: 'badge' }, 'excl') : null] },
    { label: 'Ready', num: true, sort: 'messages_ready', render: (q) => num(q.messages_ready) },
    { label: 'Unacked', num: true, sort: 'messages_unacknowledged', render: (q) => num(q.messages_unacknowledged) },
    { label: 'Total', num: true, sort: 'messages', render: (q) => num(q.messages) },
    { label: 'Consumers', num: true, sort: 'consumers', render: (q) => num(q.consumers) },
    { label: 'Publish', num: true, sort: 'message_stats.publish_details.rate', render: (q) => rate(q.message_stats?.publish_details) },
    { label: 'Deliver', num: true, sort: 'message_stats.deliver_get_details.rate', render: (q) => rate(q.message_stats?.deliver_get_details) },
  ];
  let refresh;
  const t = table(cols, {
    sort: state.sort,
    onSort: (s) => {
      state.reverse = state.sort === s ? !state.reverse : s !== 'name';
      state.sort = s;
      state.page = 1;
      t.setSort(s, state.reverse);
      void refresh();
    },
    onRow: (q) => app.go(`#/queues/${encodeURIComponent(q.name)}`),
    empty: 'No queues.',
  });
  const filter = h('input', { type: 'search', placeholder: 'Filter by name', id: 'queue-filter' });
  filter.addEventListener('input', () => {
    state.name = filter.value;
    state.page = 1;
    void refresh();
  });
  const info = h('span', { id: 'queue-pages' });
  const prev = h('button', { type: 'button', onclick: () => (state.page = Math.max(1, state.page - 1), void refresh()) }, '‹ Previous');
  const next = h('button', { type: 'button', id: 'next-page', onclick: () => (state.page++, void refresh()) }, 'Next ›');
  const add = onSubmit(
    h('form', { class: 'inline', id: 'add-queue' }, h('input', { name: 'name', placeholder: 'New queue name', required: true }), h('label', {}, h('input', { type: 'checkbox', name: 'durable', checked: true }), ' durable'), h('button', { type: 'submit' }, 'Add queue')),
    app,
    async (v) => {
      await app.api(`/api/queues/${app.seg(app.vhost)}/${app.seg(v.name)}`, { method: 'PUT', body: { durable: v.durable } });
      void refresh();
      return `Declared queue '${v.name}'.`;
    },
  );
  fill(main, card('Queues', h('div', { class: 'toolbar' }, filter, h('span', { class: 'spacer' }), add), t.el, h('div', { class: 'pager' }, prev, info, next)));
  refresh = async () => {
    const qs = new URLSearchParams({ page: String(state.page), page_size: String(PAGE_SIZE), sort: state.sort, sort_reverse: String(state.reverse) });
    if (state.name) qs.set('name', state.name);
    let r;
    try {
      r = await app.api(`/api/queues/${app.seg(app.vhost)}?${qs}`);
    } catch (err) {
      if (err.error !== 'page_out_of_range') throw err;
      state.page = 1;
      return refresh();
    }
    t.update(r.items);
    info.textContent = `page ${r.page} of ${Math.max(1, r.page_count)} · ${num(r.filtered_count)} queue${r.filtered_count === 1 ? '' : 's'}`;
    prev.disabled = r.page <= 1;
    next.disabled = r.page >= r.page_count;
  };
  return { refresh };
}

function queueDetail(main, app, name) {
  const path = `/api/queues/${app.seg(app.vhost)}/${app.seg(name)}`;
  const summary = h('div', { id: 'queue-summary' });
  const bindings = table(
    [
      { label: 'From exchange', render: (b) => (b.source === '' ? '(default exchange)' : b.source) },
      { label: 'Routing key', render: (b) => b.routing_key },
      { label: 'Arguments', render: (b) => (Object.keys(b.arguments).length ? JSON.stringify(b.arguments) : '') },
    ],
    { empty: 'No bindings.' },
  );
  const messages = h('div', { id: 'got-messages' });
  const getForm = onSubmit(
    h(
      'form',
      { class: 'inline', id: 'get-messages' },
      h('label', {}, 'Messages ', h('input', { name: 'count', type: 'number', min: 1, max: 1000, value: 1, class: 'narrow' })),
      h('select', { name: 'ackmode' }, h('option', { value: 'ack_requeue_true' }, 'Requeue them'), h('option', { value: 'ack_requeue_false' }, 'Remove them (ack)'), h('option', { value: 'reject_requeue_false' }, 'Reject them (dead-letter)')),
      h('button', { type: 'submit' }, 'Get messages'),
    ),
    app,
    async (v) => {
      const got = await app.api(`${path}/get`, { method: 'POST', body: { count: Number(v.count), ackmode: v.ackmode, encoding: 'auto', truncate: 50_000 } });
      fill(
        messages,
        got.length === 0
          ? h('p', { class: 'hint' }, 'The queue is empty.')
          : got.map((m, i) =>
              h('div', { class: 'message-entry' }, h('h3', {}, `Message ${i + 1}`), kv([['exchange', m.exchange || '(default)'], ['routing key', m.routing_key], ['redelivered', String(m.redelivered)], ['properties', JSON.stringify(m.properties)], ['payload', `${num(m.payload_bytes)} bytes, ${m.payload_encoding}`]]), h('pre', { class: 'message' }, m.payload)),
            ),
      );
      void refresh();
      return `Got ${got.length} message${got.length === 1 ? '' : 's'}.`;
    },
  );
  const publishForm = onSubmit(
    h(
      'form',
      { class: 'stack', id: 'publish-message' },
      h('textarea', { name: 'payload', placeholder: 'Message body', required: true }),
      h('div', { class: 'inline' }, h('input', { name: 'content_type', placeholder: 'content type (optional)' }), h('label', {}, h('input', { type: 'checkbox', name: 'persistent' }), ' persistent'), h('button', { type: 'submit', class: 'primary' }, 'Publish message')),
      h('p', { class: 'hint' }, `Published through the default exchange with routing key '${name}'.`),
    ),
    app,
    async (v) => {
      const properties = { delivery_mode: v.persistent ? 2 : 1, ...(v.content_type ? { content_type: v.content_type } : {}) };
      const r = await app.api(`/api/exchanges/${app.seg(app.vhost)}/amq.default/publish`, { method: 'POST', body: { routing_key: name, payload: v.payload, payload_encoding: 'string', properties } });
      void refresh();
      return r.routed ? 'Message published.' : 'Message published, but no queue took it.';
    },
  );
  const purge = h('button', { type: 'button', class: 'danger', id: 'purge' }, 'Purge');
  purge.addEventListener('click', () => {
    if (confirm(`Drop every ready message of queue '${name}'?`)) void act(app, async () => (await app.api(`${path}/contents`, { method: 'DELETE' }), refresh()), `Purged queue '${name}'.`);
  });
  const del = h('button', { type: 'button', class: 'danger', id: 'delete-queue' }, 'Delete');
  del.addEventListener('click', () => {
    if (confirm(`Delete queue '${name}' and its messages?`)) void act(app, async () => (await app.api(path, { method: 'DELETE' }), app.go('#/queues')), `Deleted queue '${name}'.`);
  });
  fill(
    main,
    h('p', {}, h('a', { href: '#/queues' }, '‹ Queues')),
    card(`Queue ${name}`, summary, h('div', { class: 'toolbar' }, purge, del)),
    card('Get messages', getForm, messages),
    card('Publish a message', publishForm),
    card('Bindings', bindings.el),
  );
  const refresh = async () => {
    const [q, b] = await Promise.all([app.api(path), app.api(`${path}/bindings`)]);
    const s = q.message_stats ?? {};
    fill(
      summary,
      kv([
        ['ready', h('span', { id: 'queue-ready' }, num(q.messages_ready))],
        ['unacked', num(q.messages_unacknowledged)],
        ['consumers', num(q.consumers)],
        ['ready bytes', bytes(q.message_bytes_ready)],
        ['publish', `${rate(s.publish_details)} (${num(s.publish)} in all)`],
        ['deliver / get', `${rate(s.deliver_get_details)} (${num(s.deliver_get)} in all)`],
        ['ack', rate(s.ack_details)],
        ['redeliver', rate(s.redeliver_details)],
        ['features', [q.durable ? 'durable' : 'transient', q.auto_delete ? 'auto-delete' : null, q.exclusive ? 'exclusive' : null].filter(Boolean).join(', ')],
        ['arguments', Object.keys(q.arguments).length ? JSON.stringify(q.arguments) : 'none'],
        ['idle since', q.idle_since ?? '–'],
      ]),
    );
    bindings.update(b);
  };
  return { refresh };
}

const queues = {
  mount(main, app, [name]) {
    return name === undefined ? queueList(main, app) : queueDetail(main, app, name);
  },
};

// ---- exchanges ----

function exchangeList(main, app) {
  const t = table(
    [
      { label: 'Name', render: (x) => (x.name === '' ? '(default exchange)' : x.name) },
      { label: 'Type', render: (x) => x.type },
      { label: 'Features', render: (x) => [x.durable ? 'D' : null, x.auto_delete ? 'AD' : null, x.internal ? 'I' : null].filter(Boolean).join(' ') },
      { label: 'In', num: true, render: (x) => rate(x.message_stats?.publish_in_details) },
      { label: 'Out', num: true, render: (x) => rate(x.message_stats?.publish_out_details) },
    ],
    { onRow: (x) => app.go(`#/exchanges/${encodeURIComponent(x.name === '' ? 'amq.default' : x.name)}`) },
  );
  const add = onSubmit(
    h(
      'form',
      { class: 'inline', id: 'add-exchange' },
      h('input', { name: 'name', placeholder: 'New exchange name', required: true }),
      h('select', { name: 'type' }, ['direct', 'fanout', 'topic', 'headers'].map((x) => h('option', { value: x }, x))),
      h('label', {}, h('input', { type: 'checkbox', name: 'durable', checked: true }), ' durable'),
      h('button', { type: 'submit' }, 'Add exchange'),
    ),
    app,
    async (v) => {
      await app.api(`/api/exchanges/${app.seg(app.vhost)}/${app.seg(v.name)}`, { method: 'PUT', body: { type: v.type, durable: v.durable } });
      void refresh();
      return `Declared exchange '${v.name}'.`;
    },
  );
  fill(main, card('Exchanges', h('div', { class: 'toolbar' }, h('span', { class: 'spacer' }), add), t.el));
  const refresh = async () => t.update(await app.api(`/api/exchanges/${app.seg(app.vhost)}`));
  return { refresh };
}

function exchangeDetail(main, app, pathName) {
  const path = `/api/exchanges/${app.seg(app.vhost)}/${app.seg(pathName)}`;
  const summary = h('div');
  const bindings = table(
    [
      { label: 'To', render: (b) => `${b.destination_type} ${b.destination}` },
      { label: 'Routing key', render: (b) => b.routing_key },
      { label: 'Arguments', render: (b) => (Object.keys(b.arguments).length ? JSON.stringify(b.arguments) : '') },
      {
        label: '',
        render: (b) =>
          pathName === 'amq.default'
            ? ''
            : h(
                'button',
                {
                  type: 'button',
                  class: 'danger',
                  onclick: () =>
                    void act(app, async () => (await app.api(`/api/bindings/${app.seg(app.vhost)}/e/${app.seg(pathName)}/${b.destination_type === 'queue' ? 'q' : 'e'}/${app.seg(b.destination)}/${b.properties_key}`, { method: 'DELETE' }), refresh()), 'Unbound.'),
                },
                'Unbind',
              ),
      },
    ],
    { empty: 'No bindings from this exchange.' },
  );
  const bind = onSubmit(
    h(
      'form',
      { class: 'inline', id: 'add-binding' },
      h('select', { name: 'kind' }, h('option', { value: 'q' }, 'to queue'), h('option', { value: 'e' }, 'to exchange')),
      h('input', { name: 'destination', placeholder: 'destination', required: true }),
      h('input', { name: 'routing_key', placeholder: 'routing key' }),
      h('button', { type: 'submit' }, 'Bind'),
    ),
    app,
    async (v) => {
      await app.api(`/api/bindings/${app.seg(app.vhost)}/e/${app.seg(pathName)}/${v.kind}/${app.seg(v.destination)}`, { method: 'POST', body: { routing_key: v.routing_key } });
      void refresh();
      return `Bound '${v.destination}'.`;
    },
  );
  const publish = onSubmit(
    h('form', { class: 'stack', id: 'publish-exchange' }, h('input', { name: 'routing_key', placeholder: 'routing key' }), h('textarea', { name: 'payload', placeholder: 'Message body', required: true }), h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Publish message'))),
    app,
    async (v) => {
      const r = await app.api(`${path}/publish`, { method: 'POST', body: { routing_key: v.routing_key, payload: v.payload, payload_encoding: 'string', properties: {} } });
      void refresh();
      return r.routed ? 'Message published.' : 'Message published, but no queue took it.';
    },
  );
  const del = h('button', { type: 'button', class: 'danger' }, 'Delete');
  del.addEventListener('click', () => {
    if (confirm(`Delete exchange '${pathName}'?`)) void act(app, async () => (await app.api(path, { method: 'DELETE' }), app.go('#/exchanges')), `Deleted exchange '${pathName}'.`);
  });
  const builtIn = pathName === 'amq.default' || pathName.startsWith('amq.');
  fill(main, h('p', {}, h('a', { href: '#/exchanges' }, '‹ Exchanges')), card(`Exchange ${pathName === 'amq.default' ? '(default)' : pathName}`, summary, builtIn ? null : h('div', { class: 'toolbar' }, del)), card('Bindings', bindings.el, pathName === 'amq.default' ? null : bind), card('Publish a message', publish));
  const refresh = async () => {
    const [x, b] = await Promise.all([app.api(path), app.api(`${path}/bindings/source`)]);
    fill(summary, kv([['type', x.type], ['durable', String(x.durable)], ['auto-delete', String(x.auto_delete)], ['internal', String(x.internal)], ['arguments', Object.keys(x.arguments).length ? JSON.stringify(x.arguments) : 'none'], ['in', rate(x.message_stats?.publish_in_details)], ['out', rate(x.message_stats?.publish_out_details)]]));
    bindings.update(b);
  };
  return { refresh };
}

const exchanges = {
  mount(main, app, [name]) {
    return name === undefined ? exchangeList(main, app) : exchangeDetail(main, app, name);
  },
};

// ---- connections and channels ----

const connections = {
  mount(main, app) {
    let refresh;
    const t = table(
      [
        { label: 'Name', render: (c) => [c.user_provided_name ?? c.name, c.user_provided_name ? h('span', { class: 'badge' }, c.name) : null] },
        { label: 'User', render: (c) => c.user },
        { label: 'Protocol', render: (c) => c.protocol },
        { label: 'State', render: (c) => c.state },
        { label: 'Channels', num: true, render: (c) => num(c.channels) },
        { label: 'In', num: true, render: (c) => `${bytes(c.recv_oct_details.rate)}/s` },
        { label: 'Out', num: true, render: (c) => `${bytes(c.send_oct_details.rate)}/s` },
        {
          label: '',
          render: (c) =>
            h(
              'button',
              {
                type: 'button',
                class: 'danger close-connection',
                onclick: () => {
                  if (confirm(`Close connection ${c.name} (user ${c.user})?`)) {
                    void act(app, async () => (await app.api(`/api/connections/${app.seg(c.name)}`, { method: 'DELETE', headers: { 'x-reason': `closed from the dashboard by ${app.user.name}` } }), refresh()), 'Connection closed.');
                  }
                },
              },
              'Close',
            ),
        },
      ],
      { empty: 'No connections.' },
    );
    fill(main, card('Connections', t.el));
    refresh = async () => t.update(await app.api('/api/connections'));
    return { refresh };
  },
};

const channels = {
  mount(main, app) {
    const t = table(
      [
        { label: 'Channel', render: (c) => c.name },
        { label: 'User', render: (c) => c.user },
        { label: 'Mode', render: (c) => (c.confirm ? 'confirm' : '') },
        { label: 'Consumers', num: true, render: (c) => num(c.consumer_count) },
        { label: 'Prefetch', num: true, render: (c) => num(c.prefetch_count || c.global_prefetch_count) },
        { label: 'Unacked', num: true, render: (c) => num(c.messages_unacknowledged) },
        { label: 'Unconfirmed', num: true, render: (c) => num(c.messages_unconfirmed) },
        { label: 'Publish', num: true, render: (c) => rate(c.message_stats.publish_details) },
        { label: 'Deliver', num: true, render: (c) => rate(c.message_stats.deliver_get_details) },
        { label: 'Ack', num: true, render: (c) => rate(c.message_stats.ack_details) },
      ],
      { empty: 'No channels.' },
    );
    fill(main, card('Channels', t.el));
    return { refresh: async () => t.update(await app.api('/api/channels')) };
  },
};

export const VIEWS = { overview, queues, exchanges, connections, channels };
