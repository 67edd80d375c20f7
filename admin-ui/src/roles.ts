// What each role may do, to hide what it cannot (the API enforces the same rules and answers
// 403 anyway): the role table of docs/console.md "Roles" (crates/nkpay-api/src/admin/mod.rs
// ROUTES). One difference, the issue's: finance gets no settings pages.
import type { Role } from "./api";

export type Action =
  | "merchants.read"
  | "merchants.review"
  | "merchants.reveal"
  | "businesses.write"
  | "providers.read"
  | "providers.write"
  | "providers.keys"
  | "trades.read"
  | "refunds.create"
  | "notifications.read"
  | "notifications.resend"
  | "statements.read"
  | "reconciliation.read"
  | "reconciliation.write"
  | "reconciliation.run"
  | "settings.open"
  | "channelAccounts.read"
  | "channelAccounts.write"
  | "platformKeys.read"
  | "platformKeys.manage"
  | "identities.manage"
  | "audit.read";

const everything: Action[] = [
  "merchants.read", "merchants.review", "merchants.reveal", "businesses.write", "providers.read",
  "providers.write", "providers.keys", "trades.read", "refunds.create", "notifications.read",
  "notifications.resend", "statements.read", "reconciliation.read", "reconciliation.write",
  "reconciliation.run", "settings.open", "channelAccounts.read", "channelAccounts.write", "platformKeys.read",
  "platformKeys.manage", "identities.manage", "audit.read",
];

const table: Record<Role, Action[]> = {
  "platform-admin": everything,
  operator: [
    "merchants.read", "merchants.review", "businesses.write", "providers.read", "trades.read",
    "refunds.create", "notifications.read", "notifications.resend", "statements.read",
    "reconciliation.read", "reconciliation.write", "reconciliation.run", "settings.open",
    "channelAccounts.read",
    "platformKeys.read",
  ],
  finance: [
    "merchants.read", "providers.read", "trades.read", "notifications.read", "statements.read",
    "reconciliation.read", "reconciliation.write",
  ],
  "agent-admin": [
    "merchants.read", "businesses.write", "providers.read", "providers.keys", "trades.read",
    "statements.read",
  ],
  "read-only": [
    "merchants.read", "providers.read", "trades.read", "notifications.read", "statements.read",
    "reconciliation.read", "settings.open", "channelAccounts.read", "platformKeys.read",
  ],
};

export function can(role: Role | undefined, action: Action): boolean {
  return !!role && (table[role] ?? []).includes(action);
}

export const roleNames: Record<Role, [string, string]> = {
  "platform-admin": ["平台管理员", "Platform admin"],
  operator: ["运营", "Operator"],
  finance: ["财务", "Finance"],
  "agent-admin": ["服务商管理员", "Agent admin"],
  "read-only": ["只读", "Read-only"],
};
