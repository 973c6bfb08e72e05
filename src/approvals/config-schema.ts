// The `approvals` key of the gateway config: where approval links point, and the webhook channels
// a policy's `approval.notify` can name. Also the check that every name a policy notifies is a
// channel the config defines, so that a typo is reported at start and not discovered when an
// approval goes unannounced.
import { z } from 'zod';
import type { Policy, PolicyRule } from '../policy/schema.js';
import { pointerToken } from '../util/json-pointer.js';

/** The notify name of the calling client's own user (elicitation), never a webhook channel. */
export const CLIENT_CHANNEL = 'client';

const CHANNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const HttpUrl = z.string().refine(
  (text) => {
    try {
      return /^https?:$/.test(new URL(text).protocol);
    } catch {
      return false;
    }
  },
  { error: 'expected an http:// or https:// URL' },
);

/** An HTTP header name (a token, RFC 9110). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const ChannelSchema = z
  .strictObject({
    url: HttpUrl.meta({ description: 'Where the webhook is POSTed. Treat it as a secret (Slack puts its key in it).' }),
    format: z.enum(['json', 'slack']).default('json').meta({
      description: 'json: the generic approval.requested payload; slack: a Slack-compatible { text, blocks } message.',
    }),
    headers: z
      .record(
        z.string().regex(HEADER_NAME, { error: 'not a valid HTTP header name' }),
        z
          .union([z.string(), z.number(), z.boolean()])
          .transform(String)
          // Said without the value: a header here usually carries the receiver's secret.
          .refine((v) => !/[^\t\x20-\x7e\x80-\xff]/.test(v), {
            error: 'a header value must not contain a line break, a control character or a character beyond U+00FF',
          }),
      )
      .default({})
      .meta({ description: 'Extra request headers, e.g. an Authorization header the receiver checks.' }),
  })
  .meta({ id: 'ApprovalChannel' });

export const ApprovalsConfigSchema = z
  .strictObject({
    public_url: HttpUrl.optional().meta({
      description: "Base of the links in approval notifications; default: the gateway's own listen URL.",
    }),
    channels: z
      .record(
        z
          .string()
          .regex(CHANNEL_NAME, { error: `channel names must match ${CHANNEL_NAME.source}` })
          .refine((name) => name !== CLIENT_CHANNEL, {
            error: `"${CLIENT_CHANNEL}" is reserved: in notify it means the calling client's own user`,
          }),
        ChannelSchema,
      )
      .default({})
      .meta({ description: "Webhook channels, by the name a policy's approval.notify lists." }),
  })
  .optional()
  .meta({ description: 'Approval links and notification channels.' });

export type ApprovalsConfig = NonNullable<z.output<typeof ApprovalsConfigSchema>>;
export type ApprovalChannelConfig = ApprovalsConfig['channels'][string];

/** A notify name no channel answers to, and the policy rule that names it. */
export interface UnknownNotify {
  name: string;
  /** e.g. `/servers/github/policy/tools/delete_*` */
  where: string;
}

/**
 * Every name in an `approval.notify` of these policies that the config defines no channel for
 * (`client` excepted). `policies` maps where each policy came from (a config path) to the policy.
 */
export function unknownNotifyChannels(
  policies: Iterable<[where: string, policy: Policy | undefined]>,
  channels: Record<string, unknown> = {},
): UnknownNotify[] {
  const found: UnknownNotify[] = [];
  const visit = (rule: PolicyRule | undefined, where: string) => {
    for (const name of rule?.approval?.notify ?? [])
      if (name !== CLIENT_CHANNEL && !Object.hasOwn(channels, name)) found.push({ name, where });
  };
  for (const [where, policy] of policies) {
    if (!policy) continue;
    visit(policy.all_tools, `${where}/all_tools`);
    for (const [key, rule] of Object.entries(policy.categories)) visit(rule, `${where}/categories/${key}`);
    for (const table of ['tools', 'resources', 'prompts'] as const)
      for (const [key, rule] of Object.entries(policy[table])) visit(rule, `${where}/${table}/${pointerToken(key)}`);
  }
  return found;
}
