// Vocabulary of the risk classifier: verbs and nouns with the category they suggest and how
// strongly. Only general English and API vocabulary lives here: no tool or server names.

export type ToolCategory = 'read' | 'write' | 'execute' | 'destructive' | 'financial';

/** 3 strong, 2 moderate, 1 weak (decides nothing alone). */
export type Strength = 1 | 2 | 3;

export interface VerbInfo {
  category: ToolCategory;
  strength: Strength;
  /** Also a common noun (`tag`, `run`, `comment`): taken as the verb only in first position. */
  nounish?: boolean;
  /** Says only that the tool changes something (`write`, `manage`): the description says what. */
  generic?: boolean;
  /** An HTTP method used as a name prefix (`post`, `patch`): a more specific verb after it wins. */
  http?: boolean;
}

type Entry = [ToolCategory, Strength, ('nounish' | 'generic' | 'http')?];

const ENTRIES: Record<string, Entry> = {
  // read: only retrieves or computes data
  get: ['read', 3],
  list: ['read', 3],
  search: ['read', 3],
  find: ['read', 3],
  read: ['read', 3],
  fetch: ['read', 3],
  retrieve: ['read', 3],
  show: ['read', 3],
  describe: ['read', 3],
  view: ['read', 3, 'nounish'],
  lookup: ['read', 3],
  download: ['read', 3],
  count: ['read', 3, 'nounish'],
  browse: ['read', 3],
  inspect: ['read', 3],
  whoami: ['read', 3],
  diff: ['read', 3, 'nounish'],
  query: ['read', 2, 'nounish'],
  check: ['read', 2, 'nounish'],
  analyze: ['read', 2],
  analyse: ['read', 2],
  open: ['read', 2],
  echo: ['read', 2],
  convert: ['read', 2],
  compute: ['read', 2],
  calculate: ['read', 2],
  validate: ['read', 2],
  verify: ['read', 2],
  summarize: ['read', 2],
  estimate: ['read', 2, 'nounish'],
  preview: ['read', 2, 'nounish'],
  explain: ['read', 2],
  parse: ['read', 2],
  render: ['read', 2],
  poll: ['read', 2, 'nounish'],
  return: ['read', 2, 'nounish'],
  ping: ['read', 2],
  export: ['read', 2, 'nounish'],
  screenshot: ['read', 2, 'nounish'],
  generate: ['write', 1],

  // write: creates or changes state reversibly
  create: ['write', 3],
  add: ['write', 3],
  update: ['write', 3, 'nounish'],
  edit: ['write', 3, 'nounish'],
  set: ['write', 3, 'nounish'],
  append: ['write', 3],
  insert: ['write', 3],
  upsert: ['write', 3],
  save: ['write', 3],
  modify: ['write', 3],
  change: ['write', 3, 'nounish'],
  rename: ['write', 3],
  move: ['write', 3, 'nounish'],
  copy: ['write', 3, 'nounish'],
  duplicate: ['write', 3, 'nounish'],
  clone: ['write', 3],
  fork: ['write', 3, 'nounish'],
  star: ['write', 3, 'nounish'],
  unstar: ['write', 3],
  follow: ['write', 3],
  unfollow: ['write', 3],
  mark: ['write', 3],
  dismiss: ['write', 3],
  resolve: ['write', 2],
  unresolve: ['write', 3],
  reopen: ['write', 3],
  close: ['write', 3],
  assign: ['write', 3],
  unassign: ['write', 3],
  label: ['write', 3, 'nounish'],
  tag: ['write', 3, 'nounish'],
  comment: ['write', 3, 'nounish'],
  reply: ['write', 3, 'nounish'],
  react: ['write', 3],
  request: ['write', 3, 'nounish'],
  submit: ['write', 3],
  merge: ['write', 3, 'nounish'],
  rebase: ['write', 3],
  push: ['write', 3],
  commit: ['write', 3, 'nounish'],
  checkout: ['write', 3, 'nounish'],
  switch: ['write', 3],
  toggle: ['write', 3],
  enable: ['write', 3],
  disable: ['write', 3],
  activate: ['write', 3],
  deactivate: ['write', 3],
  pause: ['write', 3],
  resume: ['write', 3],
  restore: ['write', 3],
  reset: ['write', 3],
  apply: ['write', 3],
  finalize: ['write', 3],
  upgrade: ['write', 3],
  downgrade: ['write', 3],
  reprioritize: ['write', 3],
  reorder: ['write', 3],
  sort: ['write', 2, 'nounish'],
  upload: ['write', 3, 'nounish'],
  import: ['write', 3, 'nounish'],
  invite: ['write', 3, 'nounish'],
  grant: ['write', 3, 'nounish'],
  share: ['write', 3],
  lock: ['write', 3, 'nounish'],
  unlock: ['write', 3],
  archive: ['write', 3, 'nounish'],
  unarchive: ['write', 3],
  link: ['write', 3, 'nounish'],
  attach: ['write', 3],
  pin: ['write', 3, 'nounish'],
  unpin: ['write', 3],
  schedule: ['write', 3, 'nounish'],
  configure: ['write', 3],
  register: ['write', 3],
  subscribe: ['write', 3],
  unsubscribe: ['write', 3],
  approve: ['write', 3],
  reject: ['write', 3],
  complete: ['write', 3],
  stage: ['write', 3, 'nounish'],
  unstage: ['write', 3],
  sync: ['write', 3, 'nounish'],
  send: ['write', 3],
  notify: ['write', 3],
  post: ['write', 2, 'http'],
  put: ['write', 2, 'http'],
  patch: ['write', 2, 'http'],
  record: ['write', 2, 'nounish'],
  compress: ['write', 2],
  scale: ['write', 3, 'nounish'],
  transition: ['write', 3, 'nounish'],
  navigate: ['write', 2],
  click: ['write', 2, 'nounish'],
  fill: ['write', 2],
  press: ['write', 2],
  start: ['write', 2, 'nounish'],
  stop: ['write', 2, 'nounish'],
  init: ['write', 2],
  initialize: ['write', 2],
  install: ['write', 2, 'nounish'],
  track: ['write', 2, 'nounish'],
  confirm: ['write', 1],
  write: ['write', 2, 'generic'],
  manage: ['write', 2, 'generic'],
  handle: ['write', 2, 'generic'],
  perform: ['write', 2, 'generic'],
  operate: ['write', 2, 'generic'],
  mutate: ['write', 2, 'generic'],
  process: ['write', 2, 'generic'],

  // execute: runs code, queries, workflows, deployments, publishes
  execute: ['execute', 2],
  exec: ['execute', 2],
  run: ['execute', 2, 'nounish'],
  rerun: ['execute', 3],
  eval: ['execute', 2],
  evaluate: ['execute', 2],
  invoke: ['execute', 2],
  call: ['execute', 2, 'nounish'],
  launch: ['execute', 3],
  deploy: ['execute', 3],
  redeploy: ['execute', 3],
  publish: ['execute', 3],
  build: ['execute', 2, 'nounish'],
  compile: ['execute', 2],
  dispatch: ['execute', 2],
  spawn: ['execute', 3],
  migrate: ['execute', 3],
  trigger: ['execute', 1, 'nounish'],

  // destructive: deletes, overwrites, revokes, cancels irreversibly
  delete: ['destructive', 3],
  del: ['destructive', 3],
  rm: ['destructive', 3],
  remove: ['destructive', 3],
  drop: ['destructive', 3],
  purge: ['destructive', 3],
  destroy: ['destructive', 3],
  erase: ['destructive', 3],
  wipe: ['destructive', 3],
  truncate: ['destructive', 3],
  revoke: ['destructive', 3],
  terminate: ['destructive', 3],
  kill: ['destructive', 3],
  uninstall: ['destructive', 3],
  cancel: ['destructive', 3],
  abort: ['destructive', 3],
  unlink: ['destructive', 3],
  evict: ['destructive', 3],
  expunge: ['destructive', 3],
  discard: ['destructive', 3],
  overwrite: ['destructive', 3],
  trash: ['destructive', 3, 'nounish'],
  void: ['destructive', 3],
  clear: ['destructive', 2],
  detach: ['destructive', 2],
  disconnect: ['destructive', 2],

  // financial: moves money or creates financial obligations
  pay: ['financial', 3],
  charge: ['financial', 3, 'nounish'],
  refund: ['financial', 3, 'nounish'],
  purchase: ['financial', 3, 'nounish'],
  buy: ['financial', 3],
  sell: ['financial', 3],
  payout: ['financial', 3, 'nounish'],
  withdraw: ['financial', 3],
  deposit: ['financial', 3, 'nounish'],
  bill: ['financial', 3, 'nounish'],
  donate: ['financial', 3],
  transfer: ['financial', 2, 'nounish'],
};

export const VERBS: ReadonlyMap<string, VerbInfo> = new Map(
  Object.entries(ENTRIES).map(([word, [category, strength, flag]]) => {
    const info: VerbInfo = { category, strength };
    if (flag === 'nounish') info.nounish = true;
    if (flag === 'generic') info.generic = true;
    if (flag === 'http') info.http = true;
    return [word, info];
  }),
);

/** Words joining two verbs in a name or a lead sentence: `create_or_update`, "Add or remove". */
export const CONJUNCTIONS: ReadonlySet<string> = new Set(['or', 'and']);

/**
 * Nouns naming something that runs: an execute-ish verb on one of these (`run_pipeline`,
 * `exec_shell_command`, `apply_db_migration`) is strong evidence of execution.
 */
export const CODE_NOUNS: ReadonlySet<string> = new Set([
  'sql',
  'ddl',
  'dml',
  'script',
  'scripts',
  'command',
  'commands',
  'cmd',
  'shell',
  'bash',
  'code',
  'program',
  'workflow',
  'workflows',
  'job',
  'jobs',
  'pipeline',
  'pipelines',
  'migration',
  'migrations',
  'function',
  'functions',
  'lambda',
  'notebook',
  'tool',
  'tools',
  'task',
  'tasks',
  'action',
  'actions',
  'build',
  'deployment',
  'container',
  'manifest',
  'manifests',
]);

/** Verbs that, on a code noun, mean running it (`apply_db_migration`, `start_job`, `trigger_build`). */
export const RUNS_CODE: ReadonlySet<string> = new Set([
  'execute',
  'exec',
  'run',
  'rerun',
  'eval',
  'evaluate',
  'invoke',
  'call',
  'dispatch',
  'apply',
  'trigger',
  'start',
  'launch',
]);

/**
 * Nouns of money movement: any non-read verb on one of these is financial
 * (`create_payment_request`, `refund_order`, `pause_subscription`).
 */
export const MONEY_NOUNS: ReadonlySet<string> = new Set([
  'payment',
  'payments',
  'refund',
  'refunds',
  'charge',
  'charges',
  'payout',
  'payouts',
  'subscription',
  'subscriptions',
  'dispute',
  'disputes',
  'billing',
  'purchase',
  'purchases',
  'money',
  'funds',
  'wire',
  'remittance',
]);

/**
 * Words that, placed before `subscription`, make it a subscription to events rather than a
 * billing one (`notification_subscription`, `webhook_subscription`).
 */
export const EVENT_SUBSCRIPTION_QUALIFIERS: ReadonlySet<string> = new Set([
  'notification',
  'notifications',
  'repository',
  'repo',
  'event',
  'events',
  'webhook',
  'webhooks',
  'topic',
  'channel',
  'feed',
  'thread',
  'email',
  'newsletter',
  'calendar',
  'resource',
  'resources',
  'log',
  'logs',
  'alert',
  'alerts',
  'stream',
]);

/** Verbs that turn a draft invoice into an obligation: `send_invoice`, `void_invoice`. */
export const INVOICE_ISSUING_VERBS: ReadonlySet<string> = new Set([
  'finalize',
  'send',
  'issue',
  'pay',
  'charge',
  'collect',
  'void',
]);

/** Plan changes that change what is billed: `upgrade_plan`, `downgrade_subscription`. */
export const PLAN_CHANGE_VERBS: ReadonlySet<string> = new Set(['upgrade', 'downgrade']);
export const PLAN_NOUNS: ReadonlySet<string> = new Set(['plan', 'tier', 'seats', 'seat', 'license', 'licenses']);

/** Names of arguments that choose what a multi-purpose tool does: `method`, `action`, `operation`. */
export const SELECTOR_ARGUMENTS: ReadonlySet<string> = new Set([
  'method',
  'action',
  'operation',
  'op',
  'command',
  'mode',
]);

/** Argument names whose value is code to run. */
export const CODE_ARGUMENTS: ReadonlySet<string> = new Set([
  'sql',
  'script',
  'command',
  'cmd',
  'shell',
  'code',
  'statement',
  'expression',
  'program',
  'snippet',
  'source',
]);

/** Argument names that always hold code (the rest of CODE_ARGUMENTS need a description that says so). */
export const ALWAYS_CODE_ARGUMENTS: ReadonlySet<string> = new Set(['sql', 'script', 'shell', 'cmd', 'command']);
