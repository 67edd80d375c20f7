// The platform's signing keys (GET /admin/api/platform-keys), newest first: the public keys
// service providers verify replies and notifications with; the private halves never leave the
// database. A platform admin rotates (POST /admin/api/platform-keys/rotate, after a
// confirmation: the replaced key keeps signing for its callers until its retirement date) and
// switches a caller to another key (POST /admin/api/platform-keys/assign). Issue 14.
import { App, Button, InputNumber, Popconfirm, Select, Space, Tag, Typography } from "antd";
import { useEffect, useMemo, useState } from "react";
import { get, post } from "../api";
import { useAuth } from "../auth";
import { DataTable, limitPager } from "../components/DataTable";
import { time } from "../format";
import { useI18n } from "../i18n";

const statusColor: Record<string, string> = { active: "green", retiring: "orange" };

export function PlatformKeys() {
  const { t } = useI18n();
  const { can } = useAuth();
  const { message } = App.useApp();
  const [generation, setGeneration] = useState(0);
  const [listing, setListing] = useState<{ keys: any[]; assignments: any[] }>({ keys: [], assignments: [] });
  const [days, setDays] = useState<number>(30);
  const [sysId, setSysId] = useState<string>();
  const [keyId, setKeyId] = useState<string>();
  const manage = can("platformKeys.manage");
  const load = useMemo(
    () => limitPager(async () => (await get("/admin/api/platform-keys")).keys),
    [],
  );
  useEffect(() => {
    get("/admin/api/platform-keys").then(setListing, () => undefined);
  }, [generation]);
  const act = async (fn: () => Promise<any>) => {
    try {
      await fn();
      message.success(t("done"));
      setGeneration((g) => g + 1);
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  const usable = listing.keys.filter((k) => k.status === "active" || k.status === "retiring");
  return (
    <div data-testid="page-platform-keys">
      <Typography.Title level={4}>{t("platformKeys")}</Typography.Title>
      {manage && (
        <Space wrap style={{ marginBottom: 16 }}>
          <span>{t("retireAfterDays")}</span>
          <InputNumber min={1} max={3650} value={days} onChange={(v) => setDays(v ?? 30)} data-testid="retire-after-days" />
          <Popconfirm title={t("rotateConfirm")} okText={t("confirm")} cancelText={t("cancel")}
            onConfirm={() => act(() => post("/admin/api/platform-keys/rotate", { retire_after_days: days }))}>
            <Button type="primary" danger data-testid="rotate-key">{t("rotateKey")}</Button>
          </Popconfirm>
          <Select showSearch placeholder="sys_id" style={{ width: 200 }} value={sysId} onChange={setSysId}
            options={listing.assignments.map((a) => ({ value: a.sys_id, label: `${a.sys_id} (${a.key_id})` }))} />
          <Select placeholder="key_id" style={{ width: 240 }} value={keyId} onChange={setKeyId}
            options={usable.map((k) => ({ value: k.key_id, label: `${k.key_id} (${k.status})` }))} />
          <Button disabled={!sysId || !keyId} data-testid="assign-key"
            onClick={() => act(() => post("/admin/api/platform-keys/assign", { sys_id: sysId, key_id: keyId }))}>
            {t("switchKey")}
          </Button>
        </Space>
      )}
      <DataTable name="platform-keys" rowKey="key_id" load={load} reloadKey={generation}
        columns={[
          { title: "key_id", dataIndex: "key_id" },
          { title: t("status"), dataIndex: "status", render: (v) => <Tag color={statusColor[v] ?? "default"}>{v}</Tag> },
          { title: t("createdAt"), dataIndex: "created_at", render: time },
          { title: "retire_at", dataIndex: "retire_at", render: time },
          { title: t("callers"), key: "callers", render: (_, k: any) => listing.assignments.filter((a) => a.key_id === k.key_id).length },
          { title: "public_key", dataIndex: "public_key", render: (v) => <Typography.Paragraph copyable={{ text: v }} code ellipsis style={{ maxWidth: 420, marginBottom: 0 }}>{v}</Typography.Paragraph> },
        ]} />
    </div>
  );
}
