// The audit log: every write with who, what, before → after, address and time; paged on the
// server (GET /admin/api/audit).
import { Input, Typography } from "antd";
import { useMemo, useState } from "react";
import { get } from "../api";
import { AutoTable } from "../components/AutoTable";
import { useI18n } from "../i18n";

export function Audit() {
  const { t } = useI18n();
  const [actor, setActor] = useState("");
  const [action, setAction] = useState("");
  const load = useMemo(
    () => async (page: number, size: number) => {
      const d = await get("/admin/api/audit", { actor: actor.trim(), action: action.trim(), offset: (page - 1) * size, limit: size });
      return { rows: d.entries ?? d.items ?? [], total: d.total };
    },
    [actor, action],
  );
  return (
    <div data-testid="page-audit">
      <Typography.Title level={4}>{t("audit")}</Typography.Title>
      <AutoTable name="audit" rowKey="id" load={load} reloadKey={`${actor}-${action}`}
        extra={<>
          <Input placeholder="actor" allowClear style={{ width: 160 }} onBlur={(e) => setActor(e.target.value)} />
          <Input placeholder="action" allowClear style={{ width: 200 }} onBlur={(e) => setAction(e.target.value)} />
        </>} />
    </div>
  );
}
