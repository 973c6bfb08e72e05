// Wires the configured approval channels to a gateway's approval service: the base of approval
// links, the webhooks, and the start-up warning for notify names no channel answers to.
import type { LoadedConfig } from '../config/load.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { unknownNotifyChannels } from './config-schema.js';
import type { ApprovalService } from './service.js';
import { WebhookNotifier, type WebhookLog } from './webhooks.js';

export interface CompiledPolicies {
  servers: ReadonlyMap<string, CompiledPolicy>;
  grants: ReadonlyMap<string, CompiledPolicy | undefined>;
}

export function attachApprovalChannels(
  approvals: ApprovalService,
  loaded: LoadedConfig,
  compiled: CompiledPolicies,
  links: { base?: string },
  log: WebhookLog,
): WebhookNotifier {
  const config = loaded.config.approvals;
  // Set before the gateway listens, which fills in its own URL only when this is still empty.
  if (config?.public_url) links.base = config.public_url.replace(/\/+$/, '');
  const channels = config?.channels ?? {};
  const unknown = unknownNotifyChannels(
    [
      ...[...compiled.servers].map(([name, p]): [string, CompiledPolicy['source']] => [
        `/servers/${name}/policy`,
        p.source,
      ]),
      ...[...compiled.grants].map(([name, p]): [string, CompiledPolicy['source'] | undefined] => [
        `/grants/${name}/policy`,
        p?.source,
      ]),
    ],
    channels,
  );
  for (const { name, where } of unknown)
    log(
      'warn',
      `${where} notifies "${name}", which is not a channel under approvals.channels: its approvals will not be announced there.`,
    );
  const notifier = new WebhookNotifier({ channels, baseUrl: () => links.base, log });
  notifier.attach(approvals);
  return notifier;
}
