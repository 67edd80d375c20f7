// The platform's channel accounts: ids, whether each secret is set (never the secret), the
// WeChat client certificate's expiry; enable/disable and a test call (platform admin).
import { App, Button, Space, Tag, Typography } from "antd";
import { useMemo, useState } from "react";
import { get, post } from "../api";
import { useAuth } from "../auth";
import { DataTable, offsetPager } from "../components/DataTable";
import { time } from "../format";
import { useI18n } from "../i18n";

export function ChannelAccounts() {
  const { t } = useI18n();
  const { can } = useAuth();
  const { message } = App.useApp();
  const [generation, setGeneration] = useState(0);
  const load = useMemo(
    () =>
      offsetPager(async (offset, limit) => {
        const d = await get("/admin/api/channel-accounts", { offset, limit });
        return { rows: d.items, total: d.total };
      }),
    [],
  );
  const act = async (fn: () => Promise<any>) => {
    try {
      const r = await fn();
      if (r && "ok" in r) (r.ok ? message.success : message.error)(`${r.code ?? ""} ${r.message ?? ""}`);
      else message.success(t("done"));
      setGeneration((g) => g + 1);
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  return (
    <div data-testid="page-channel-accounts">
      <Typography.Title level={4}>{t("channelAccounts")}</Typography.Title>
      <DataTable name="channel-accounts" rowKey="id" load={load} reloadKey={generation}
        columns={[
          { title: "id", dataIndex: "id" },
          { title: "channel", dataIndex: "channel" },
          { title: t("name"), dataIndex: "name" },
          { title: "default", dataIndex: "is_default", render: (v) => (v ? "✓" : "") },
          { title: t("status"), dataIndex: "status", render: (v) => <Tag color={v === "active" ? "green" : "red"}>{v}</Tag> },
          { title: "appid / app_id", render: (_, a: any) => a.appid ?? a.app_id, csv: (a: any) => a.appid ?? a.app_id },
          { title: "mch_id / isv_pid", render: (_, a: any) => a.mch_id ?? a.isv_pid, csv: (a: any) => a.mch_id ?? a.isv_pid },
          { title: t("certExpiry"), dataIndex: "cert_not_after",
            render: (v: string, a: any) => v ? (
              <Tag color={a.cert_expires_in_days < 30 ? "red" : "green"} data-testid={`cert-expiry-${a.id}`}>{time(v)} ({a.cert_expires_in_days}d)</Tag>
            ) : "" },
          { title: "gateway_url", dataIndex: "gateway_url", ellipsis: true },
          { title: t("updatedAt"), dataIndex: "updated_at", render: time },
          {
            title: t("actions"), key: "actions",
            render: (_, a: any) => can("channelAccounts.write") && (
              <Space>
                <Button size="small" onClick={() => act(() => post(`/admin/api/channel-accounts/${a.id}/test`))}>test</Button>
                {a.status === "active"
                  ? <Button size="small" danger onClick={() => act(() => post(`/admin/api/channel-accounts/${a.id}/disable`))}>{t("suspend")}</Button>
                  : <Button size="small" onClick={() => act(() => post(`/admin/api/channel-accounts/${a.id}/enable`))}>{t("activate")}</Button>}
              </Space>
            ),
          },
        ]} />
    </div>
  );
}
