// The platform's signing keys (GET /admin/api/platform-keys), newest first: the public keys
// service providers verify replies and notifications with; the private halves never leave the
// database. No rotate button: POST /admin/api/platform-keys/rotate does not exist yet —
// rotation arrives with issue 14.
import { Tag, Typography } from "antd";
import { useMemo } from "react";
import { get } from "../api";
import { DataTable, limitPager } from "../components/DataTable";
import { time } from "../format";
import { useI18n } from "../i18n";

export function PlatformKeys() {
  const { t } = useI18n();
  const load = useMemo(() => limitPager(async () => (await get("/admin/api/platform-keys")).keys), []);
  return (
    <div data-testid="page-platform-keys">
      <Typography.Title level={4}>{t("platformKeys")}</Typography.Title>
      <DataTable name="platform-keys" rowKey="key_id" load={load}
        columns={[
          { title: "key_id", dataIndex: "key_id" },
          { title: t("status"), dataIndex: "status", render: (v) => <Tag color={v === "active" ? "green" : "default"}>{v}</Tag> },
          { title: t("createdAt"), dataIndex: "created_at", render: time },
          { title: "retired_at", dataIndex: "retired_at", render: time },
          { title: "public_key", dataIndex: "public_key", render: (v) => <Typography.Paragraph copyable={{ text: v }} code ellipsis style={{ maxWidth: 420, marginBottom: 0 }}>{v}</Typography.Paragraph> },
        ]} />
    </div>
  );
}
