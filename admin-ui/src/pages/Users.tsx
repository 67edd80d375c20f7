// Admin users (role, agent admin's sys_id, enabled) and named API tokens.
import { Tabs, Typography } from "antd";
import { useMemo } from "react";
import { get } from "../api";
import { AutoTable } from "../components/AutoTable";
import { limitPager } from "../components/DataTable";
import { useI18n } from "../i18n";

function listOf(d: any, key: string): any[] {
  return Array.isArray(d) ? d : d[key] ?? d.items ?? [];
}

export function Users() {
  const { t } = useI18n();
  const users = useMemo(() => limitPager(async () => listOf(await get("/admin/api/users"), "users")), []);
  const tokens = useMemo(() => limitPager(async () => listOf(await get("/admin/api/tokens"), "tokens")), []);
  return (
    <div data-testid="page-users">
      <Typography.Title level={4}>{t("users")}</Typography.Title>
      <Tabs items={[
        { key: "users", label: t("users"), children: <AutoTable name="users" rowKey="username" load={users} /> },
        { key: "tokens", label: "API tokens", children: <AutoTable name="tokens" rowKey="name" load={tokens} /> },
      ]} />
    </div>
  );
}
