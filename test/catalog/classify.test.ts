// Proves, on small hand-made tools, that the risk classifier reads each kind of evidence — name
// verbs in every naming style, description phrases, each MCP annotation, argument names and
// options in the input schema — and that when the evidence conflicts the riskier reading wins
// unless the safer one is strongly supported, with reasons that say how the conflict was
// resolved. The tools are invented (no tool of the labelled dataset is used here): the classifier
// has no per-tool rules, so it must get them right from general evidence alone.
import { describe, expect, it } from 'vitest';
import { classifyTool, RISK_OF_CATEGORY, type ClassifiableTool } from '../../src/catalog/classify.js';
import { leadSentence, splitIdentifier, verbForms } from '../../src/catalog/words.js';

const object = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)) => ({
  type: 'object',
  properties,
  required,
});
const text = (description = '') => ({ type: 'string', description });

function classify(tool: ClassifiableTool) {
  return classifyTool(tool);
}

function reasonsOf(tool: ClassifiableTool): string {
  return classify(tool).reasons.join('\n');
}

describe('splitting names', () => {
  it('splits snake_case, camelCase, PascalCase, kebab-case, dotted and spaced names into lower-case words', () => {
    expect(splitIdentifier('delete_pull_request')).toEqual(['delete', 'pull', 'request']);
    expect(splitIdentifier('deletePullRequest')).toEqual(['delete', 'pull', 'request']);
    expect(splitIdentifier('DeletePullRequest')).toEqual(['delete', 'pull', 'request']);
    expect(splitIdentifier('delete-pull-request')).toEqual(['delete', 'pull', 'request']);
    expect(splitIdentifier('pulls.delete')).toEqual(['pulls', 'delete']);
    expect(splitIdentifier('Delete Pull Request')).toEqual(['delete', 'pull', 'request']);
  });

  it('keeps acronyms together: getHTTPResponse is get, http, response', () => {
    expect(splitIdentifier('getHTTPResponse')).toEqual(['get', 'http', 'response']);
    expect(splitIdentifier('API-post-find')).toEqual(['api', 'post', 'find']);
  });

  it('strips description boilerplate so the lead sentence starts with the verb', () => {
    expect(leadSentence('This tool will create a customer in the shop. It takes a name.')).toBe(
      'create a customer in the shop',
    );
    expect(leadSentence('Docs | Search by title Error Responses')).toBe('Search by title Error Responses');
    expect(verbForms('applies')).toContain('apply');
    expect(verbForms('switches')).toContain('switch');
  });
});

describe('name verbs', () => {
  it.each([
    ['delete_note', 'destructive'],
    ['deleteNote', 'destructive'],
    ['DeleteNote', 'destructive'],
    ['delete-note', 'destructive'],
    ['notes.delete', 'destructive'],
    ['notes_delete', 'destructive'],
    ['list_files', 'read'],
    ['listFiles', 'read'],
    ['files.list', 'read'],
    ['files-list', 'read'],
    ['create_folder', 'write'],
    ['folders.create', 'write'],
    ['updateFolder', 'write'],
    ['run_pipeline', 'execute'],
    ['deploy-site', 'execute'],
    ['packages.publish', 'execute'],
    ['refund_payment', 'financial'],
    ['chargeCard', 'financial'],
  ] as const)('reads the verb of %s as %s', (name, category) => {
    expect(classify({ name }).category).toBe(category);
  });

  it('takes the verb from the first word, else the last, else the middle: boards_list_cards is a list', () => {
    expect(classify({ name: 'boards_list_cards' }).category).toBe('read');
    expect(reasonsOf({ name: 'boards_list_cards' })).toContain('name verb `list`');
  });

  it('reads words that are also nouns as nouns when a real verb is present: get_pipeline_run is a read', () => {
    expect(classify({ name: 'get_pipeline_run' }).category).toBe('read');
    expect(classify({ name: 'merge_request_read' }).category).toBe('read');
  });

  it('treats an HTTP method prefix as a prefix: API-post-find is a find', () => {
    expect(classify({ name: 'API-post-find' }).category).toBe('read');
  });

  it('reads both verbs of create_or_update_page and keeps the riskier meaning of each word', () => {
    expect(classify({ name: 'create_or_update_page' }).category).toBe('write');
    expect(classify({ name: 'get_and_delete_message' }).category).toBe('destructive');
  });

  it('runs code when an execute verb acts on code: exec_sql, apply_db_migration, trigger_pipeline', () => {
    expect(reasonsOf({ name: 'exec_sql' })).toContain('name verb `exec` on `sql`');
    expect(classify({ name: 'apply_db_migration' }).category).toBe('execute');
    expect(classify({ name: 'trigger_pipeline' }).category).toBe('execute');
  });

  it('reads money nouns after any verb that changes state: create_payment_request, pause_subscription', () => {
    expect(classify({ name: 'create_payment_request' }).category).toBe('financial');
    expect(classify({ name: 'pause_subscription' }).category).toBe('financial');
    expect(reasonsOf({ name: 'pause_subscription' })).toContain('name noun `subscription`');
  });

  it('does not read money nouns of read-only tools: list_payments is a read', () => {
    expect(classify({ name: 'list_payments' }).category).toBe('read');
  });

  it('does not take a subscription to notifications for a billing subscription', () => {
    expect(classify({ name: 'update_notification_subscription' }).category).toBe('write');
  });

  it('issues an invoice when finalizing or sending it, not when drafting it', () => {
    expect(classify({ name: 'finalize_customer_invoice' }).category).toBe('financial');
    expect(classify({ name: 'send_invoice' }).category).toBe('financial');
    expect(classify({ name: 'create_invoice_draft' }).category).toBe('write');
  });
});

describe('description phrases', () => {
  it('uses the lead verb of the description when the name has none', () => {
    expect(classify({ name: 'tracker', description: 'Deletes the tracker and its history.' }).category).toBe(
      'destructive',
    );
    expect(classify({ name: 'tracker', description: 'This tool will fetch the tracker.' }).category).toBe('read');
  });

  it('reads every verb of a generic name from the description: "Create, update or delete tags"', () => {
    const tool = { name: 'tag_write', description: 'Create, update or delete tags in a project.' };
    expect(classify(tool).category).toBe('destructive');
    expect(reasonsOf(tool)).toContain('description verb `delete`');
  });

  it('lets the description corroborate but not overrule a specific name verb: "Set or remove the type"', () => {
    expect(classify({ name: 'update_ticket_type', description: 'Set or remove the type of a ticket.' }).category).toBe(
      'write',
    );
  });

  it('reads irreversible loss anywhere in the description as destructive', () => {
    const tool = { name: 'reset_workspace', description: 'Resets the workspace. Any unsaved data will be lost.' };
    expect(classify(tool).category).toBe('destructive');
    expect(reasonsOf(tool)).toContain('description says "will be lost"');
  });

  it('reads running code and going to production as execute: "Executes raw SQL", "to production"', () => {
    expect(classify({ name: 'sql_tool', description: 'Executes raw SQL in the database.' }).category).toBe('execute');
    expect(
      classify({ name: 'merge_environment', description: 'Merges the staging environment to production.' }).category,
    ).toBe('execute');
  });

  it('does not reclassify a tool whose name says it reads because of words in its description', () => {
    const tool = { name: 'get_build_logs', description: 'Download logs of jobs that run workflows, deleted or not.' };
    expect(classify(tool).category).toBe('read');
  });
});

describe('annotations', () => {
  it('readOnlyHint makes a tool with no verb a read', () => {
    const tool = { name: 'folder_tree', annotations: { readOnlyHint: true } };
    expect(classify(tool)).toMatchObject({ category: 'read', risk: 'low' });
    expect(reasonsOf(tool)).toContain('annotation readOnlyHint');
  });

  it('readOnlyHint: false makes a tool with no verb a write', () => {
    const tool = { name: 'zip-as-attachment', annotations: { readOnlyHint: false } };
    expect(classify(tool).category).toBe('write');
    expect(reasonsOf(tool)).toContain('annotation readOnlyHint: false');
  });

  it('destructiveHint makes a tool with no other evidence destructive', () => {
    const tool = { name: 'branch_tool', annotations: { destructiveHint: true } };
    expect(classify(tool).category).toBe('destructive');
    expect(reasonsOf(tool)).toContain('annotation destructiveHint');
  });

  it('idempotentHint and openWorldHint are noted in the reasons but change neither category nor risk', () => {
    const plain = classify({ name: 'create_note' });
    const hinted = classify({ name: 'create_note', annotations: { idempotentHint: true, openWorldHint: true } });
    expect(hinted.category).toBe(plain.category);
    expect(hinted.risk).toBe(plain.risk);
    expect(hinted.reasons.join('\n')).toContain('annotation idempotentHint');
    expect(hinted.reasons.join('\n')).toContain('annotation openWorldHint');
  });

  it('readOnlyHint outweighs an execute verb with nothing executable: an analytics query stays a read', () => {
    const tool = {
      name: 'report_query_execute',
      description: 'Execute an analytics query.',
      inputSchema: object({ columns: { type: 'array' }, date_from: text() }),
      annotations: { readOnlyHint: true },
    };
    expect(classify(tool).category).toBe('read');
  });

  it('readOnlyHint does not outweigh an execute verb with code to run: a SQL tool stays execute', () => {
    const tool = {
      name: 'exec_sql',
      description: 'Executes SQL.',
      inputSchema: object({ sql: text() }),
      annotations: { readOnlyHint: true },
    };
    expect(classify(tool).category).toBe('execute');
  });
});

describe('schema arguments', () => {
  it('reads `amount` with `currency` as financial and says so', () => {
    const tool = { name: 'create_transfer', inputSchema: object({ amount: { type: 'number' }, currency: text() }) };
    expect(classify(tool)).toMatchObject({ category: 'financial', risk: 'critical' });
    expect(reasonsOf(tool)).toContain('argument `amount` with `currency`');
  });

  it('does not read a price or a discount definition as moving money: unit_amount, amount_off', () => {
    expect(
      classify({ name: 'define_price', inputSchema: object({ unit_amount: { type: 'number' }, currency: text() }) })
        .category,
    ).toBe('write');
  });

  it('reads an argument tying the call to a cost as financial: confirm_cost_id', () => {
    const tool = { name: 'create_database', inputSchema: object({ name: text(), confirm_cost_id: text() }) };
    expect(classify(tool).category).toBe('financial');
    expect(reasonsOf(tool)).toContain('argument `confirm_cost_id` ties the call to a cost');
  });

  it.each([
    ['sql', text('The SQL to run')],
    ['command', text('Shell command')],
    ['script', text('The script')],
    ['query', text('A SQL query to execute')],
    ['code', text('Python code to execute')],
  ])('reads an argument `%s` holding code as execute', (arg, schema) => {
    const tool = { name: 'workspace', inputSchema: object({ [arg]: schema }) };
    expect(classify(tool).category).toBe('execute');
    expect(reasonsOf(tool)).toContain(`argument \`${arg}\` holds`);
  });

  it('does not read a search `query` argument as code', () => {
    expect(
      classify({ name: 'search_articles', inputSchema: object({ query: text('What to look for') }) }).category,
    ).toBe('read');
  });

  it('reads a delete with identifier-only arguments as deleting the whole object', () => {
    const tool = { name: 'delete_app', inputSchema: object({ app_id: text() }) };
    expect(classify(tool).category).toBe('destructive');
    expect(reasonsOf(tool)).toContain('name verb `delete` with only identifiers required (`app_id`)');
  });

  it('makes a moderate destructive verb strong when only identifiers are required: clear_cache(site_id)', () => {
    const tool = { name: 'clear_cache', inputSchema: object({ site_id: text() }), annotations: { readOnlyHint: true } };
    expect(classify(tool).category).toBe('destructive');
  });

  it('reads the riskiest option of a `method` argument: create/update/delete is destructive', () => {
    const tool = {
      name: 'tag_write',
      inputSchema: object({ method: { type: 'string', enum: ['create', 'update', 'delete'] }, name: text() }),
    };
    expect(classify(tool).category).toBe('destructive');
    expect(reasonsOf(tool)).toContain('argument `method` offers `delete`');
  });

  it('reads options quoted in the description of an `action` argument', () => {
    const tool = {
      name: 'subtask_write',
      inputSchema: object({ action: text("One of: 'add' adds a subtask, 'remove' removes it.") }),
    };
    expect(classify(tool).category).toBe('destructive');
  });

  it('does not read HTTP methods (GET, POST, DELETE) offered by a `method` argument as operations', () => {
    const tool = {
      name: 'create_http_check',
      inputSchema: object({ url: text(), method: { type: 'string', enum: ['GET', 'POST', 'DELETE'] } }, ['url']),
    };
    expect(classify(tool).category).toBe('write');
  });

  it('reads an argument described as deleting as destructive: `in_trash` "Set to true to delete"', () => {
    const tool = {
      name: 'update_page',
      inputSchema: object({ page_id: text(), in_trash: { type: 'boolean', description: 'Set to true to delete' } }, [
        'page_id',
      ]),
    };
    expect(classify(tool).category).toBe('destructive');
    expect(reasonsOf(tool)).toContain('argument `in_trash`');
  });

  it('reads an instruction for an agent as execute: the agent acts on its own', () => {
    const tool = {
      name: 'assign_agent_to_issue',
      inputSchema: object({ issue: text(), custom_instructions: text('Guidance for the coding agent') }, ['issue']),
    };
    expect(classify(tool).category).toBe('execute');
  });
});

describe('conflicting evidence', () => {
  it('a tool annotated readOnlyHint whose name says delete is destructive, and the reasons say why', () => {
    const tool = { name: 'delete_record', annotations: { readOnlyHint: true } };
    const result = classify(tool);
    expect(result).toMatchObject({ category: 'destructive', risk: 'critical' });
    expect(result.reasons[0]).toBe('name verb `delete`');
    expect(result.reasons.join('\n')).toContain(
      'conflict: annotation readOnlyHint points to read, but name verb `delete` is as strong; the riskier reading destructive wins',
    );
  });

  it('a tool annotated destructiveHint whose name and description say search is a read, and the reasons say why', () => {
    const tool = {
      name: 'search_pages',
      description: 'Search pages by title.',
      annotations: { destructiveHint: true },
    };
    const result = classify(tool);
    expect(result).toMatchObject({ category: 'read', risk: 'low' });
    expect(result.reasons.join('\n')).toContain(
      'conflict: annotation destructiveHint points to destructive, but name verb `search` is stronger evidence for read',
    );
    expect(result.reasons.join('\n')).toContain('the safer reading read stands');
  });

  it('a moderate read verb repeated by the description defends the read against destructiveHint', () => {
    const tool = {
      name: 'query-data-source',
      description: 'Query a data source.',
      annotations: { destructiveHint: true },
    };
    expect(classify(tool).category).toBe('read');
    expect(reasonsOf(tool)).toContain('name verb `query` repeated by description verb `query`');
  });

  it('a moderate read verb loses to readOnlyHint: false, the riskier reading', () => {
    const tool = { name: 'imagine-research-query', annotations: { readOnlyHint: false } };
    expect(classify(tool).category).toBe('write');
    expect(reasonsOf(tool)).toContain('the riskier reading write wins');
  });

  it('a moderate write verb does not overrule readOnlyHint, even when the description repeats it', () => {
    const tool = {
      name: 'resolve-library-id',
      description: 'Resolves a package name to a library ID.',
      annotations: { readOnlyHint: true },
    };
    expect(classify(tool).category).toBe('read');
  });

  it('destructiveHint on an ordinary update is outweighed by the verb, and the reasons say destructiveHint covers updates', () => {
    const tool = {
      name: 'update_workspace',
      description: 'Update workspace metadata.',
      annotations: { destructiveHint: true },
    };
    const result = classify(tool);
    expect(result.category).toBe('write');
    expect(result.reasons.join('\n')).toContain('destructiveHint also covers ordinary updates of existing state');
  });

  it('destructiveHint on an update is upheld when the description replaces or overwrites content', () => {
    const replaces = {
      name: 'edit_document',
      description: 'Edits a document: each edit replaces exact line sequences.',
      annotations: { destructiveHint: true },
    };
    expect(classify(replaces).category).toBe('destructive');
    expect(reasonsOf(replaces)).toContain('conflict: name verb `edit` points to write');
    expect(
      classify({ name: 'write_to_file', description: 'Write a file, overwriting it if it exists.' }).category,
    ).toBe('destructive');
  });

  it('destructiveHint: false does not lower a refund: financial wins', () => {
    const tool = { name: 'refund_order', annotations: { destructiveHint: false, readOnlyHint: false } };
    expect(classify(tool).category).toBe('financial');
  });
});

describe('the result', () => {
  it('maps categories to risks: read low, write medium, execute high, destructive and financial critical', () => {
    expect(RISK_OF_CATEGORY).toEqual({
      read: 'low',
      write: 'medium',
      execute: 'high',
      destructive: 'critical',
      financial: 'critical',
    });
    for (const name of ['get_x', 'create_x', 'run_script', 'delete_x', 'pay_invoice']) {
      const { category, risk } = classify({ name });
      expect(risk).toBe(RISK_OF_CATEGORY[category]);
    }
  });

  it('assumes a tool with no evidence at all changes state (write), and says so', () => {
    const result = classify({ name: 'frobnicator' });
    expect(result.category).toBe('write');
    expect(result.reasons[0]).toContain('assumed to change state');
  });

  it('is deterministic and does not modify the tool it is given', () => {
    const tool = {
      name: 'manage_items',
      description: 'Create, update or delete items.',
      inputSchema: object({ method: { type: 'string', enum: ['create', 'delete'] } }),
      annotations: { destructiveHint: true, openWorldHint: true },
    };
    const copy = structuredClone(tool);
    expect(classify(tool)).toEqual(classify(copy));
    expect(tool).toEqual(copy);
  });

  it('copes with missing or malformed fields: null annotations, a schema that is not an object, no description', () => {
    expect(() => classify({ name: '' })).not.toThrow();
    expect(() => classify({ name: 'x', annotations: null, inputSchema: 'nonsense' })).not.toThrow();
    expect(() => classify({ name: 'x', inputSchema: { properties: { a: null, b: 3 }, required: 'a' } })).not.toThrow();
    expect(classify({ name: 'get_x', inputSchema: [] }).category).toBe('read');
  });
});
