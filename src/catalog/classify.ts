// Risk classifier of MCP tools (DESIGN.md §6). Every tool gets a category — read, write,
// execute, destructive, financial — a risk that follows from it, and the reasons.
//
// Evidence comes from four places: the name (split whatever its style), the title and
// description, the annotations, and the input schema. Each piece of evidence suggests a
// category with a strength: 3 strong, 2 moderate, 1 weak (weak evidence only corroborates).
// Annotations are evidence, not truth: servers mislabel their own tools in both directions.
//
// Decision: the riskiest category with moderate or strong evidence wins, unless a safer
// category has strictly stronger evidence; ties go to the riskier reading. The reasons say
// which evidence decided and how any conflict was resolved. No tool or server is special-cased:
// everything below is vocabulary and structure, so unseen servers are classified the same way.
//
// Every rule and vocabulary word has an id (`verb:delete`, `arg:amount-currency`, ...) so the
// evaluation can switch off the rules only one server exercises and see what they are worth
// (scripts/eval-classifier.ts).
import {
  ALWAYS_CODE_ARGUMENTS,
  CODE_ARGUMENTS,
  CODE_NOUNS,
  CONJUNCTIONS,
  EVENT_SUBSCRIPTION_QUALIFIERS,
  INVOICE_ISSUING_VERBS,
  MONEY_NOUNS,
  PLAN_CHANGE_VERBS,
  PLAN_NOUNS,
  RUNS_CODE,
  SELECTOR_ARGUMENTS,
  VERBS,
  type Strength,
  type ToolCategory,
  type VerbInfo,
} from './vocabulary.js';
import { firstParagraph, leadSentence, splitIdentifier, verbForms } from './words.js';

export type { ToolCategory } from './vocabulary.js';
export type ToolRisk = 'low' | 'medium' | 'high' | 'critical';

export interface ClassifiableTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: unknown;
  annotations?: Record<string, unknown> | null;
}

export interface ToolClassification {
  category: ToolCategory;
  risk: ToolRisk;
  reasons: string[];
}

/** The same as ToolClassification, under the name the catalog uses. */
export type Classification = ToolClassification;

export const RISK_OF_CATEGORY: Readonly<Record<ToolCategory, ToolRisk>> = {
  read: 'low',
  write: 'medium',
  execute: 'high',
  destructive: 'critical',
  financial: 'critical',
};

/** Safest first. */
export const CATEGORIES: readonly ToolCategory[] = ['read', 'write', 'execute', 'destructive', 'financial'];
const RANK: Record<ToolCategory, number> = { read: 0, write: 1, execute: 2, destructive: 3, financial: 4 };

/**
 * Classifies one tool definition. Deterministic and fast (tens of microseconds): a few regular
 * expressions over the description and one pass over the top-level schema properties.
 */
export function classifyTool(tool: ClassifiableTool): ToolClassification {
  return classify(tool, new Rules(NO_RULES_OFF)).classification;
}

/**
 * classifyTool with some rules switched off, also returning the ids of the rules that fired.
 * For the evaluation only: it measures what a rule is worth on the servers that use it.
 */
export function traceClassification(
  tool: ClassifiableTool,
  rulesOff: ReadonlySet<string> = NO_RULES_OFF,
): { classification: ToolClassification; rules: string[] } {
  const rules = new Rules(rulesOff);
  const classification = classify(tool, rules).classification;
  return { classification, rules: [...rules.fired].sort() };
}

// ---------------------------------------------------------------------------------------------
// Evidence

interface Evidence {
  category: ToolCategory;
  strength: Strength;
  reason: string;
  /** Counts only to defend a reading against a riskier one, never to override a safer one. */
  defensive?: boolean;
}

const NO_RULES_OFF: ReadonlySet<string> = new Set();

/** Which rules may fire, and which did. */
class Rules {
  readonly fired = new Set<string>();
  constructor(private readonly off: ReadonlySet<string>) {}
  on(id: string): boolean {
    return this.off.size === 0 || !this.off.has(id);
  }
  fire(id: string): void {
    this.fired.add(id);
  }
  verb(word: string | undefined): VerbInfo | undefined {
    if (word === undefined) return undefined;
    const info = VERBS.get(word);
    return info && this.on(`verb:${word}`) ? info : undefined;
  }
  member(set: ReadonlySet<string>, kind: string, word: string | undefined): boolean {
    return word !== undefined && set.has(word) && this.on(`${kind}:${word}`);
  }
}

class Ledger {
  readonly items: Evidence[] = [];
  constructor(private readonly rules: Rules) {}
  add(category: ToolCategory, strength: Strength, reason: string, ...ruleIds: string[]): void {
    this.items.push({ category, strength, reason });
    for (const id of ruleIds) this.rules.fire(id);
  }
  addDefensive(category: ToolCategory, strength: Strength, reason: string, ...ruleIds: string[]): void {
    this.items.push({ category, strength, reason, defensive: true });
    for (const id of ruleIds) this.rules.fire(id);
  }
  /** The strongest evidence for a category; defensive evidence only when `defending`. */
  max(category: ToolCategory, defending = false): number {
    let best = 0;
    for (const e of this.items) {
      if (e.category === category && e.strength > best && (defending || !e.defensive)) best = e.strength;
    }
    return best;
  }
  /** The category's evidence, strongest first, without repeats. */
  of(category: ToolCategory): Evidence[] {
    const seen = new Set<string>();
    return this.items
      .filter((e) => e.category === category)
      .sort((a, b) => b.strength - a.strength)
      .filter((e) => (seen.has(e.reason) ? false : (seen.add(e.reason), true)));
  }
}

// ---------------------------------------------------------------------------------------------
// Verbs in names and sentences

interface VerbHit {
  word: string;
  info: VerbInfo;
}

/**
 * The verb(s) a tool name is built on. Names are verb-first (`delete_note`) or resource-first
 * (`notes_delete`, `boards_list_cards`), so the verb is the first word if it is one, else the
 * last, else the first in the middle. Words that are also nouns (`run`, `tag`, `request`) count
 * only in first position or when nothing else is a verb, so `get_pipeline_run` is a `get`.
 * `create_or_update_page` yields both verbs.
 */
function nameVerbs(tokens: readonly string[], rules: Rules): VerbHit[] {
  if (tokens.length === 0) return [];
  const last = tokens.length - 1;
  const verbAt = (i: number): VerbInfo | undefined => rules.verb(tokens[i]);
  const isPure = (i: number): boolean => {
    const v = verbAt(i);
    return v !== undefined && !v.nounish;
  };
  let idx = -1;
  const first = verbAt(0);
  if (first && !(first.nounish && last > 0 && isPure(last))) idx = 0;
  else if (last > 0 && isPure(last)) {
    idx = last;
    if (first) rules.fire('name:nounish-first');
  } else {
    for (let i = 1; i < last && idx < 0; i++) if (isPure(i)) idx = i;
    for (let i = 0; i <= last && idx < 0; i++) if (verbAt(i)) idx = i;
  }
  if (idx < 0) return [];
  // `post_search`, `patch_page`: an HTTP method followed by a real verb is only a prefix.
  if (verbAt(idx)?.http && rules.on('name:http-prefix')) {
    for (let j = idx + 1; j <= last; j++) {
      if (isPure(j) && !verbAt(j)?.http) {
        idx = j;
        rules.fire('name:http-prefix');
        break;
      }
    }
  }
  const hits: VerbHit[] = [{ word: tokens[idx]!, info: verbAt(idx)! }];
  for (let k = idx; k + 2 <= last && CONJUNCTIONS.has(tokens[k + 1]!) && verbAt(k + 2); k += 2) {
    hits.push({ word: tokens[k + 2]!, info: verbAt(k + 2)! });
  }
  return hits;
}

function sentenceVerb(word: string | undefined, rules: Rules): VerbHit | undefined {
  if (word === undefined) return undefined;
  for (const form of verbForms(word)) {
    const info = rules.verb(form);
    if (info) return { word: form, info };
  }
  return undefined;
}

/**
 * The verbs a sentence opens with: "Deletes a branch" → delete; "Create and/or submit, delete
 * review" → create, submit, delete; "Add or remove a dependency" → add, remove.
 */
function leadVerbs(sentence: string, rules: Rules): VerbHit[] {
  const words = sentence
    .toLowerCase()
    .replace(/\//g, ' or ')
    .replace(/,/g, ' , ')
    .split(/[^a-z,]+/)
    .filter((w) => w.length > 0);
  const lead = sentenceVerb(words[0], rules);
  if (!lead) return [];
  const hits = [lead];
  let i = 1;
  for (;;) {
    let joined = false;
    while (i < words.length && (CONJUNCTIONS.has(words[i]!) || words[i] === ',')) {
      joined = true;
      i++;
    }
    const next = sentenceVerb(words[i], rules);
    if (!joined || !next) break;
    hits.push(next);
    i++;
  }
  return hits;
}

// ---------------------------------------------------------------------------------------------
// Readings of a list of words (a name, a title, or one option of a `method` argument)

interface Reading {
  verbs: VerbHit[];
  evidence: { e: Evidence; rules: string[] }[];
}

/** What the words of a name say: its verbs, plus nouns that change what the verb means. */
function readWords(tokens: readonly string[], what: string, rules: Rules): Reading {
  const verbs = nameVerbs(tokens, rules);
  const evidence: Reading['evidence'] = verbs.map((v) => ({
    e: { category: v.info.category, strength: v.info.strength, reason: `${what} verb \`${v.word}\`` },
    rules: [`verb:${v.word}`],
  }));
  if (verbs.length > 0 && verbs.every((v) => v.info.category === 'read' && v.info.strength === 3)) {
    return { verbs, evidence };
  }
  const verbWords = new Set(verbs.map((v) => v.word));
  const add = (category: ToolCategory, reason: string, ...ids: string[]): void => {
    evidence.push({ e: { category, strength: 3, reason }, rules: ids });
  };

  // Running something: `run_pipeline`, `exec_shell_command`, `apply_db_migration`.
  const runner = verbs.find((v) => rules.member(RUNS_CODE, 'runs-code', v.word));
  const code = tokens.find((t) => !verbWords.has(t) && rules.member(CODE_NOUNS, 'code-noun', t));
  if (runner && code) {
    add('execute', `${what} verb \`${runner.word}\` on \`${code}\``, `runs-code:${runner.word}`, `code-noun:${code}`);
  }
  // Money: `refund_order`, `create_payment_request`, `pause_subscription` (a bare subscription is
  // a billing one; a `notification_subscription` is not).
  tokens.forEach((t, i) => {
    if (verbWords.has(t) || !rules.member(MONEY_NOUNS, 'money-noun', t)) return;
    if (t === 'subscription' || t === 'subscriptions') {
      const before = tokens[i - 1];
      if (before !== undefined && !VERBS.has(before) && rules.member(EVENT_SUBSCRIPTION_QUALIFIERS, 'event', before)) {
        rules.fire(`event:${before}`);
        return;
      }
    }
    add('financial', `${what} noun \`${t}\``, `money-noun:${t}`);
  });
  // Issuing an invoice (`send_invoice`, `void_invoice`); creating a draft is only a write.
  const issuing = verbs.find((v) => rules.member(INVOICE_ISSUING_VERBS, 'invoice-verb', v.word));
  if (issuing && tokens.some((t) => t === 'invoice' || t === 'invoices')) {
    add('financial', `${what} verb \`${issuing.word}\` on \`invoice\``, `invoice-verb:${issuing.word}`);
  }
  // Changing what is billed: `upgrade_plan`, `downgrade_seats`.
  const planChange = verbs.find((v) => PLAN_CHANGE_VERBS.has(v.word));
  const plan = tokens.find((t) => rules.member(PLAN_NOUNS, 'plan-noun', t));
  if (planChange && plan) add('financial', `${what} verb \`${planChange.word}\` on \`${plan}\``, `plan-noun:${plan}`);
  return { verbs, evidence };
}

// ---------------------------------------------------------------------------------------------
// Description phrases

const PHRASES = {
  /** Irreversible loss, anywhere in the description. */
  final:
    /\b(?:permanently (?:delet|remov|destroy|eras|purg|wip)\w*|irreversibl[ey]|cannot be (?:undone|reversed|recovered)|can(?:'|no)t be (?:undone|reversed|recovered)|will be (?:lost|deleted|destroyed|discarded|erased)|data loss)\b/i,
  overwrite: /\boverwrit(?:e|es|ing|ten)\b/i,
  /** A destructive operation named in the first paragraph. */
  mention:
    /\b(?:delet(?:e|es|ed|ing|ion)|remov(?:e|es|ed|ing|al)|drop(?:s|ped|ping)?|purg(?:e|es|ed|ing)|destroy(?:s|ed|ing)?|eras(?:e|es|ed|ing)|wip(?:e|es|ed|ing)|truncat(?:e|es|ed|ing)|revok(?:e|es|ed|ing)|cancel(?:s|led|ing|ling)?|discard(?:s|ed|ing)?|replac(?:e|es|ed|ing))\b/i,
  /** "Executes raw SQL", "run any newer migrations", "applies a migration". */
  runsCode:
    /\b(?:runs?|running|execut(?:e|es|ing)|appl(?:y|ies|ying)|re-?runs?|evaluat(?:e|es|ing))\b(?:[\s,]+[\w-]+){0,4}?[\s,]+(?:raw\s+)?(?:sql|ddl|dml|migrations?|scripts?|commands?|code|workflows?|jobs?|pipelines?|shell|programs?|manifests?)\b/i,
  goesLive: /\b(?:(?:to|into) production|go(?:es)? live|make (?:it |them )?live|deploy(?:s|ed|ing)?)\b/i,
  money:
    /\b(?:refunds?|payments?|payouts?|billed|billing|incurs?|charges? (?:the |a |their )?(?:customer|card|account)|transfers? (?:funds|money)|moves? money|purchases?)\b/i,
  agent: /\bagents?\b/i,
};

// ---------------------------------------------------------------------------------------------
// Input schema

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Argument {
  name: string;
  lower: string;
  tokens: string[];
  schema: JsonObject;
  description: string;
}

function schemaArguments(inputSchema: unknown): { args: Argument[]; required: Set<string> } {
  if (!isObject(inputSchema) || !isObject(inputSchema.properties)) return { args: [], required: new Set() };
  const args: Argument[] = [];
  for (const [name, raw] of Object.entries(inputSchema.properties)) {
    const schema = isObject(raw) ? raw : {};
    const description = typeof schema.description === 'string' ? schema.description : '';
    args.push({ name, lower: name.toLowerCase(), tokens: splitIdentifier(name), schema, description });
  }
  const required = new Set(
    Array.isArray(inputSchema.required) ? inputSchema.required.filter((r): r is string => typeof r === 'string') : [],
  );
  return { args, required };
}

/** Values a selector argument can take: its enum, else the quoted words of its description. */
function selectorOptions(arg: Argument): string[] {
  const options = new Set<string>();
  const collect = (s: JsonObject): void => {
    if (Array.isArray(s.enum)) for (const v of s.enum) if (typeof v === 'string') options.add(v);
    if (typeof s.const === 'string') options.add(s.const);
    for (const key of ['anyOf', 'oneOf'] as const) {
      const alts = s[key];
      if (Array.isArray(alts)) for (const alt of alts) if (isObject(alt)) collect(alt);
    }
  };
  collect(arg.schema);
  if (options.size === 0) {
    for (const m of arg.description.matchAll(/['"`]([A-Za-z][\w-]{1,40})['"`]/g)) options.add(m[1]!);
  }
  return [...options];
}

/** `GET`, `POST`, ... as the options of a `method` argument: the HTTP method of a request the tool configures. */
const HTTP_METHODS = new Set(['get', 'post', 'put', 'patch', 'delete', 'head', 'options', 'connect', 'trace']);
const IDENTIFIER_ENDINGS = new Set([
  'id',
  'ids',
  'uuid',
  'key',
  'number',
  'slug',
  'sha',
  'ref',
  'name',
  'owner',
  'repo',
]);
const NOT_CODE_ENDINGS = new Set(['id', 'ids', 'name', 'names', 'type', 'types']);
const DESTRUCTIVE_FLAG =
  /\bto (?:permanently )?(?:delete|trash|destroy|purge|erase)\b|\((?:delete|deleted|deletes)\)|\boverwrit(?:e|es|ing)\b|\bpermanently (?:delet|remov|destroy|eras)\w*/i;
const DESTRUCTIVE_FLAG_NAMES = new Set(['delete', 'trash', 'purge', 'destroy', 'erase', 'wipe', 'overwrite']);
const RUNS_WORDS = /\b(?:execut|run|evaluat|interpret)/i;
const STEERING_ARGUMENTS = new Set(['instructions', 'instruction', 'prompt']);

// ---------------------------------------------------------------------------------------------

function titleText(tool: ClassifiableTool): string {
  const raw = tool.title ?? (typeof tool.annotations?.title === 'string' ? tool.annotations.title : '');
  // "Service: Publish Draft Version" → "Publish Draft Version".
  const colon = raw.lastIndexOf(': ');
  return colon >= 0 ? raw.slice(colon + 2) : raw;
}

function classify(tool: ClassifiableTool, rules: Rules): { classification: ToolClassification } {
  const ledger = new Ledger(rules);
  const annotations = tool.annotations ?? {};
  const description = tool.description ?? '';
  const paragraph = firstParagraph(description);

  // --- name, title and description verbs -------------------------------------------------------
  const name = readWords(splitIdentifier(tool.name), 'name', rules);
  const title = readWords(splitIdentifier(titleText(tool)), 'title', rules);
  const descVerbs = leadVerbs(leadSentence(description), rules);

  const nameVerb = name.verbs[0];
  const nameSpecific = nameVerb !== undefined && !nameVerb.info.generic;
  for (const { e, rules: ids } of name.evidence) ledger.add(e.category, e.strength, e.reason, ...ids);
  // The title and description decide the verb only when the name has none, or a generic one
  // (`write`, `manage`); otherwise they can corroborate it, not overrule it.
  const cap = (s: Strength): Strength => (nameSpecific ? (Math.min(s, 2) as Strength) : s);
  for (const { e, rules: ids } of title.evidence) ledger.add(e.category, cap(e.strength), e.reason, ...ids);
  // Every verb the description opens with counts ("Create, update or delete labels"): a tool
  // named generically does all of them.
  for (const v of descVerbs) {
    ledger.add(v.info.category, cap(v.info.strength), `description verb \`${v.word}\``, `verb:${v.word}`);
  }
  // Agreement: a moderate read or write verb in the name that the title or description repeat
  // is strong enough to defend that reading against a riskier claim (`api-query-table`, "Query a
  // table", annotated destructiveHint). It does not let the reading override a safer one:
  // `resolve-package-id` "Resolves a package name" annotated readOnlyHint stays read.
  if (
    nameVerb &&
    nameSpecific &&
    nameVerb.info.strength < 3 &&
    (nameVerb.info.category === 'read' || nameVerb.info.category === 'write')
  ) {
    const fromTitle = title.verbs[0];
    const fromDesc = descVerbs[0];
    const agrees = (v: VerbHit | undefined): boolean =>
      v !== undefined && v.info.category === nameVerb.info.category && v.info.strength >= 2;
    const agreeing = agrees(fromTitle)
      ? { v: fromTitle!, where: 'title' }
      : agrees(fromDesc)
        ? { v: fromDesc!, where: 'description' }
        : undefined;
    if (agreeing && rules.on('verb-agreement')) {
      ledger.addDefensive(
        nameVerb.info.category,
        3,
        `name verb \`${nameVerb.word}\` repeated by ${agreeing.where} verb \`${agreeing.v.word}\``,
        'verb-agreement',
      );
    }
  }

  // A tool whose own name says it reads (`get_…`, `list_…`, `search_…`) is not reclassified by
  // words in its description or arguments (a read tool's `archived` argument is a filter);
  // annotations and the options of a `method` argument can still contest it.
  const readName =
    name.verbs.length > 0 && name.verbs.every((v) => v.info.category === 'read') && ledger.max('read', true) >= 3;

  // --- annotations ----------------------------------------------------------------------------
  const readOnly = annotations.readOnlyHint;
  const destructive = annotations.destructiveHint;
  if (readOnly === true) ledger.add('read', 3, 'annotation readOnlyHint', 'ann:readOnlyHint');
  if (readOnly === false) {
    ledger.add(
      'write',
      2,
      'annotation readOnlyHint: false (the server says it changes state)',
      'ann:readOnlyHint-false',
    );
  }

  // --- description phrases --------------------------------------------------------------------
  let destructiveMention: string | undefined;
  // Irreversible loss stated anywhere counts even for a tool named like a read (`get_records`
  // "Permanently deletes all records"): the name must not silence what the description tells the
  // agent the tool does. Against the read name it ties, and the riskier reading wins.
  const final = rules.on('phrase:final') ? PHRASES.final.exec(description) : null;
  if (final) ledger.add('destructive', 3, `description says "${final[0]}"`, 'phrase:final');
  if (!readName) {
    const overwrite = rules.on('phrase:overwrite') ? PHRASES.overwrite.exec(paragraph) : null;
    if (overwrite) ledger.add('destructive', 2, `description says "${overwrite[0]}"`, 'phrase:overwrite');
    const mention = rules.on('phrase:mention') ? PHRASES.mention.exec(paragraph) : null;
    destructiveMention = (overwrite ?? mention)?.[0];
    if (mention && !overwrite && !nameSpecific) {
      ledger.add('destructive', 2, `description mentions "${mention[0]}"`, 'phrase:mention');
    }
    const runs = rules.on('phrase:runs-code') ? PHRASES.runsCode.exec(paragraph) : null;
    if (runs) ledger.add('execute', 3, `description says "${runs[0]}"`, 'phrase:runs-code');
    const live = rules.on('phrase:goes-live') ? PHRASES.goesLive.exec(paragraph) : null;
    if (live) ledger.add('execute', 3, `description says "${live[0]}"`, 'phrase:goes-live');
    const money = rules.on('phrase:money') ? PHRASES.money.exec(paragraph) : null;
    if (money) ledger.add('financial', nameSpecific ? 2 : 3, `description says "${money[0]}"`, 'phrase:money');
  }

  // --- input schema ---------------------------------------------------------------------------
  const { args, required } = schemaArguments(tool.inputSchema);
  const argNames = new Set(args.map((a) => a.lower));
  for (const arg of args) {
    // A selector (`method`, `action`): the tool can do whatever its riskiest option does.
    if (SELECTOR_ARGUMENTS.has(arg.lower) && rules.on('arg:selector')) {
      const options = selectorOptions(arg);
      const httpMethods =
        options.length > 1 && options.every((o) => HTTP_METHODS.has(o.toLowerCase())) && rules.on('arg:http-methods');
      if (httpMethods) rules.fire('arg:http-methods');
      if (options.length > 0 && !httpMethods) {
        for (const option of options) {
          for (const { e, rules: ids } of readWords(splitIdentifier(option), 'option', rules).evidence) {
            if (e.category === 'read') continue;
            const strength: Strength = e.category === 'write' ? 2 : e.strength;
            ledger.add(e.category, strength, `argument \`${arg.name}\` offers \`${option}\``, 'arg:selector', ...ids);
          }
        }
        continue;
      }
    }
    if (readName) continue;
    const lastToken = arg.tokens[arg.tokens.length - 1] ?? '';
    // Code to run: `sql`, `script`, `command`; `code` or `expression` when described as run.
    const alwaysCode = arg.tokens.find((t) => ALWAYS_CODE_ARGUMENTS.has(t));
    if (alwaysCode && !NOT_CODE_ENDINGS.has(lastToken) && rules.on(`code-arg:${alwaysCode}`)) {
      const what = alwaysCode === 'sql' ? 'SQL' : 'code';
      ledger.add('execute', 3, `argument \`${arg.name}\` holds ${what} to run`, `code-arg:${alwaysCode}`);
    } else if (CODE_ARGUMENTS.has(lastToken) && RUNS_WORDS.test(arg.description) && rules.on(`code-arg:${lastToken}`)) {
      ledger.add('execute', 3, `argument \`${arg.name}\` holds code to run`, `code-arg:${lastToken}`);
    } else if (lastToken === 'query' && /\bsql\b/i.test(arg.description) && rules.on('code-arg:sql-query')) {
      ledger.add('execute', 3, `argument \`${arg.name}\` holds SQL to run`, 'code-arg:sql-query');
    }
    // A flag or option that deletes: `in_trash` "Set to true to delete", `archived` "(delete)".
    const flag = rules.on('arg:destructive-flag') ? DESTRUCTIVE_FLAG.exec(arg.description) : null;
    if (flag) {
      ledger.add('destructive', 3, `argument \`${arg.name}\`: "${flag[0]}"`, 'arg:destructive-flag');
    } else if (arg.tokens.some((t) => DESTRUCTIVE_FLAG_NAMES.has(t)) && rules.on('arg:destructive-name')) {
      destructiveMention ??= `argument ${arg.name}`;
    }
    // Money: `amount` with `currency`; an argument tying the call to a cost or a billing account.
    if (arg.lower === 'amount' && (argNames.has('currency') || argNames.has('currency_code'))) {
      if (rules.on('arg:amount-currency')) {
        ledger.add('financial', 3, 'argument `amount` with `currency`', 'arg:amount-currency');
      }
    }
    const billed = arg.tokens.find((t) => t === 'cost' || t === 'billing');
    if (billed && rules.on(`arg:${billed}`)) {
      ledger.add('financial', 3, `argument \`${arg.name}\` ties the call to a ${billed}`, `arg:${billed}`);
    }
    // An instruction for an agent that then acts on its own (writes and runs code).
    const steers = arg.tokens.find((t) => STEERING_ARGUMENTS.has(t));
    if (
      steers &&
      rules.on('arg:agent') &&
      (PHRASES.agent.test(description) || args.some((a) => PHRASES.agent.test(a.description)))
    ) {
      ledger.add('execute', 3, `argument \`${arg.name}\` instructs an agent that acts on its own`, 'arg:agent');
    }
  }

  // Identifier-only arguments make a moderate destructive verb (`clear`, `detach`) a deletion
  // of the whole object.
  const requiredArgs = args.filter((a) => required.has(a.name));
  const idOnly =
    requiredArgs.length > 0 && requiredArgs.every((a) => IDENTIFIER_ENDINGS.has(a.tokens[a.tokens.length - 1] ?? ''));
  const destructiveVerb = name.verbs.find((v) => v.info.category === 'destructive');
  if (destructiveVerb && idOnly && rules.on('arg:id-only')) {
    const ids = requiredArgs.map((a) => `\`${a.name}\``).join(', ');
    ledger.add(
      'destructive',
      3,
      `name verb \`${destructiveVerb.word}\` with only identifiers required (${ids}): the whole object goes`,
      'arg:id-only',
    );
  }

  // destructiveHint means "may change existing state" in MCP, which covers ordinary updates as
  // well, so alone it is moderate; with a description or argument that deletes or overwrites,
  // it is strong.
  if (destructive === true && readOnly !== true) {
    if (destructiveMention && !readName && rules.on('ann:destructiveHint-corroborated')) {
      ledger.add(
        'destructive',
        3,
        `annotation destructiveHint, and the description mentions "${destructiveMention}"`,
        'ann:destructiveHint-corroborated',
      );
    } else {
      ledger.add('destructive', 2, 'annotation destructiveHint', 'ann:destructiveHint');
    }
  }

  return { classification: decide(ledger, annotations) };
}

function decide(ledger: Ledger, annotations: Record<string, unknown>): ToolClassification {
  let winner: ToolCategory | undefined;
  for (let r = CATEGORIES.length - 1; r >= 0 && !winner; r--) {
    const c = CATEGORIES[r]!;
    const s = ledger.max(c);
    if (s >= 2 && !CATEGORIES.slice(0, r).some((safer) => ledger.max(safer, true) > s)) winner = c;
  }
  const reasons: string[] = [];
  if (!winner) {
    // Only weak evidence, or none: nothing shows the tool is read-only, so assume it changes
    // state; weak hints are listed but decide nothing.
    winner = 'write';
    const weak = ledger.items.map((e) => e.reason);
    reasons.push(
      weak.length > 0
        ? `only weak evidence (${weak.join('; ')}): not shown to be read-only, assumed to change state`
        : 'no verb, description or annotation says what it does: assumed to change state',
    );
  } else {
    for (const e of ledger.of(winner)) reasons.push(e.reason);
  }
  const won = winner;
  const top = (c: ToolCategory): string => ledger.of(c)[0]?.reason ?? c;

  // Riskier readings that lost: say what beat them.
  for (let r = RANK[won] + 1; r < CATEGORIES.length; r++) {
    const c = CATEGORIES[r]!;
    const s = ledger.max(c);
    if (s < 2) continue;
    const by = CATEGORIES.slice(0, r).find((safer) => ledger.max(safer, true) > s) ?? won;
    const why = top(c).startsWith('annotation destructiveHint')
      ? ' (destructiveHint also covers ordinary updates of existing state)'
      : '';
    const outcome = by === won ? `the safer reading ${won} stands` : `so ${won} stands`;
    reasons.push(`conflict: ${top(c)} points to ${c}, but ${top(by)} is stronger evidence for ${by}${why}; ${outcome}`);
  }
  // Safer readings that lost: a claim of read-only, or a reversible verb on a destructive tool.
  const wonStrength = ledger.max(won);
  for (const c of ['read', 'write'] as const) {
    if (RANK[c] >= RANK[won] || (c === 'write' && won !== 'destructive')) continue;
    const s = ledger.max(c, true);
    if (s < 2) continue;
    const as = wonStrength > s ? 'stronger' : 'as strong';
    reasons.push(`conflict: ${top(c)} points to ${c}, but ${top(won)} is ${as}; the riskier reading ${won} wins`);
  }
  if (won === 'destructive' && annotations.destructiveHint === false) {
    reasons.push(`conflict: annotation destructiveHint: false is outweighed by ${top(won)}; the riskier reading wins`);
  }
  if (annotations.idempotentHint === true && won !== 'read') {
    reasons.push('annotation idempotentHint: repeating a call has no further effect (does not lower the category)');
  }
  if (annotations.openWorldHint === true) reasons.push('annotation openWorldHint: reaches systems outside the server');
  return { category: won, risk: RISK_OF_CATEGORY[won], reasons };
}
