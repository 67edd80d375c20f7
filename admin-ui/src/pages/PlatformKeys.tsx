// The platform's signing keys (GET /admin/api/platform-keys): the public keys merchants verify
// with; rotation when the server offers it (platform admin).
import { App, Button, Typography } from "antd";
import { useMemo, useState } from "react";
import { get, post } from "../api";
import { useAuth } from "../auth";
import { AutoTable } from "../components/AutoTable";
import { limitPager } from "../components/DataTable";
import { useI18n } from "../i18n";

export function PlatformKeys() {
  const { t } = useI18n();
  const { can } = useAuth();
  const { message } = App.useApp();
  const [generation, setGeneration] = useState(0);
  const load = useMemo(() => limitPager(async () => {
    const d = await get("/admin/api/platform-keys");
    return Array.isArray(d) ? d : d.keys ?? d.items ?? [];
  }), []);
  return (
    <div data-testid="page-platform-keys">
      <Typography.Title level={4}>{t("platformKeys")}</Typography.Title>
      <AutoTable name="platform-keys" rowKey="id" load={load} reloadKey={generation}
        extra={can("identities.manage") && (
          <Button onClick={async () => {
            try {
              await post("/admin/api/platform-keys/rotate");
              message.success(t("done"));
              setGeneration((g) => g + 1);
            } catch (e) {
              message.error((e as Error).message);
            }
          }}>rotate</Button>
        )} />
    </div>
  );
}
