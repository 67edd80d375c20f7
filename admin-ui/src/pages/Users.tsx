// Admin users (role, an agent admin's sys_id, enabled or not) and named API tokens: create
// (a generated password or a token's secret is shown once), disable/enable, revoke.
import { Alert, Button, Form, Input, Modal, Select, Tabs, Tag, Typography } from "antd";
import { useMemo, useState } from "react";
import { del, get, post } from "../api";
import { DataTable, limitPager } from "../components/DataTable";
import { useAction } from "../components/useAction";
import { time } from "../format";
import { useI18n } from "../i18n";
import type { Role } from "../api";
import { roleNames } from "../roles";

const ROLES = Object.keys(roleNames) as Role[];

function CreateForm({ kind, onDone }: { kind: "user" | "token"; onDone: (r: any) => void }) {
  const { t, lang } = useI18n();
  const act = useAction(onDone);
  return (
    <Form layout="vertical" onFinish={(v) => act(() => post(kind === "user" ? "/admin/api/users" : "/admin/api/tokens", {
      ...(kind === "user" ? { username: v.name, password: v.password || undefined } : { name: v.name }),
      role: v.role, sys_id: v.role === "agent-admin" ? v.sys_id : undefined,
    }))}>
      <Form.Item name="name" label={kind === "user" ? t("username") : t("name")} rules={[{ required: true }]}><Input /></Form.Item>
      <Form.Item name="role" label={t("role")} rules={[{ required: true }]}>
        <Select options={ROLES.map((r) => ({ value: r, label: roleNames[r][lang === "zh" ? 0 : 1] }))} />
      </Form.Item>
      <Form.Item noStyle shouldUpdate>
        {({ getFieldValue }) => getFieldValue("role") === "agent-admin" && (
          <Form.Item name="sys_id" label="sys_id" rules={[{ required: true }]}><Input /></Form.Item>
        )}
      </Form.Item>
      {kind === "user" && <Form.Item name="password" label={`${t("password")} (12+)`}><Input.Password autoComplete="new-password" /></Form.Item>}
      <Button type="primary" htmlType="submit">{t("confirm")}</Button>
    </Form>
  );
}

export function Users() {
  const { t } = useI18n();
  const [generation, setGeneration] = useState(0);
  const [creating, setCreating] = useState<"user" | "token" | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const refresh = () => setGeneration((g) => g + 1);
  const act = useAction(refresh);
  const users = useMemo(() => limitPager(async () => (await get("/admin/api/users")).users), []);
  const tokens = useMemo(() => limitPager(async () => (await get("/admin/api/tokens")).tokens), []);
  const created = (r: any) => {
    setCreating(null);
    setSecret(r?.password ?? r?.secret ?? null);
    refresh();
  };
  const status = (v: string) => <Tag color={v === "active" ? "green" : "red"}>{v}</Tag>;
  return (
    <div data-testid="page-users">
      <Typography.Title level={4}>{t("users")}</Typography.Title>
      {secret && (
        <Alert type="warning" closable onClose={() => setSecret(null)} style={{ marginBottom: 16 }}
          message={t("privateKeyOnce")} description={<Typography.Text copyable code>{secret}</Typography.Text>} />
      )}
      <Tabs items={[
        {
          key: "users", label: t("users"),
          children: (
            <DataTable name="users" rowKey="username" load={users} reloadKey={generation}
              extra={<Button type="primary" onClick={() => setCreating("user")}>{t("create")}</Button>}
              columns={[
                { title: t("username"), dataIndex: "username" },
                { title: t("role"), dataIndex: "role" },
                { title: "sys_id", dataIndex: "sys_id" },
                { title: t("status"), dataIndex: "status", render: status },
                { title: t("createdAt"), dataIndex: "created_at", render: time },
                {
                  title: t("actions"), key: "actions",
                  render: (_, u: any) => u.status === "active"
                    ? <Button size="small" danger onClick={() => act(() => post(`/admin/api/users/${encodeURIComponent(u.username)}/disable`))}>{t("suspend")}</Button>
                    : <Button size="small" onClick={() => act(() => post(`/admin/api/users/${encodeURIComponent(u.username)}/enable`))}>{t("activate")}</Button>,
                },
              ]} />
          ),
        },
        {
          key: "tokens", label: "API tokens",
          children: (
            <DataTable name="tokens" rowKey="id" load={tokens} reloadKey={generation}
              extra={<Button type="primary" onClick={() => setCreating("token")}>{t("create")}</Button>}
              columns={[
                { title: t("name"), dataIndex: "name" },
                { title: t("role"), dataIndex: "role" },
                { title: "sys_id", dataIndex: "sys_id" },
                { title: t("status"), dataIndex: "status", render: status },
                { title: "created_by", dataIndex: "created_by" },
                { title: t("createdAt"), dataIndex: "created_at", render: time },
                { title: "revoked_at", dataIndex: "revoked_at", render: time },
                {
                  title: t("actions"), key: "actions",
                  render: (_, k: any) => !k.revoked_at && <Button size="small" danger onClick={() => act(() => del(`/admin/api/tokens/${k.id}`))}>revoke</Button>,
                },
              ]} />
          ),
        },
      ]} />
      <Modal open={!!creating} title={t("create")} onCancel={() => setCreating(null)} footer={null} destroyOnClose>
        {creating && <CreateForm kind={creating} onDone={created} />}
      </Modal>
    </div>
  );
}
