// Today's figures, by trade type and channel, the last 30 days, the notification backlog and
// open incidents. The trade figures come from GET /admin/api/dashboard; the backlog from the
// notification stats and the incidents from reconciliation, each shown when the role may read it.
import { Alert, Card, Col, Row, Statistic, Table, Typography } from "antd";
import { useEffect, useMemo, useState } from "react";
import { ApiError, get } from "../api";
import { useAuth } from "../auth";
import { Chart } from "../components/Chart";
import { yuan } from "../format";
import { useI18n } from "../i18n";

type Dash = Record<string, any>;

function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : typeof v === "string" && v !== "" && !isNaN(Number(v)) ? Number(v) : undefined;
}

function rate(v: unknown): string {
  const n = num(v);
  if (n === undefined) return "-";
  return `${(n <= 1 ? n * 100 : n).toFixed(2)}%`;
}

function Tile({ id, title, value }: { id: string; title: string; value: string | number }) {
  return (
    <Col xs={12} md={6}>
      <Card data-testid={id}>
        <Statistic title={title} value={value} />
      </Card>
    </Col>
  );
}

export function Dashboard() {
  const { t } = useI18n();
  const { can } = useAuth();
  const [dash, setDash] = useState<Dash | null>(null);
  const [dashError, setDashError] = useState<string | null>(null);
  const [notify, setNotify] = useState<Dash | null>(null);
  const [incidents, setIncidents] = useState<number | null>(null);
  const [pendingApps, setPendingApps] = useState<number | null>(null);

  useEffect(() => {
    get("/admin/api/dashboard")
      .then(setDash)
      .catch((e) => setDashError(e instanceof ApiError && e.status === 404 ? t("notAvailable") : e.message));
    if (can("notifications.read")) get("/admin/api/notifications/stats").then(setNotify).catch(() => {});
    if (can("reconciliation.read"))
      get("/admin/api/reconciliation/incidents", { limit: 500 })
        .then((d) => setIncidents(d.incidents.length))
        .catch(() => {});
    if (can("merchants.review"))
      get("/admin/api/applications", { status: "P", limit: 500 })
        .then((d) => setPendingApps(d.applications.length))
        .catch(() => {});
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const today = dash?.today ?? {};
  const days: any[] = dash?.days ?? dash?.last_30_days ?? [];
  const breakdown: any[] = today.by_type_channel ?? dash?.by_type_channel ?? [];
  const labels = useMemo(() => days.map((d) => String(d.date ?? d.day ?? "")), [days]);
  const series = useMemo(
    () => [
      { name: t("todayVolume").replace(/今日|Today's /, ""), kind: "bar" as const, values: days.map((d) => (num(d.amount_fen ?? d.volume_fen) ?? 0) / 100) },
      { name: t("todayCount").replace(/今日|Today's /, ""), kind: "line" as const, values: days.map((d) => num(d.count) ?? 0), right: true },
    ],
    [days, t],
  );
  const backlog = num(dash?.notification_backlog?.due ?? dash?.notification_backlog) ?? num(notify?.due);
  const openIncidents = num(dash?.open_incidents) ?? incidents ?? undefined;

  return (
    <div data-testid="page-dashboard">
      <Typography.Title level={4}>{t("dashboard")}</Typography.Title>
      {dashError && <Alert type="info" message={dashError} style={{ marginBottom: 16 }} />}
      <Row gutter={[16, 16]}>
        {dash && (
          <>
            <Tile id="stat-today-volume" title={t("todayVolume")} value={yuan(num(today.amount_fen ?? today.volume_fen))} />
            <Tile id="stat-today-count" title={t("todayCount")} value={num(today.count) ?? 0} />
            <Tile id="stat-success-rate" title={t("successRate")} value={rate(today.success_rate)} />
          </>
        )}
        {backlog !== undefined && (
          <Tile id="stat-notify-backlog" title={t("notifyBacklog")} value={backlog} />
        )}
        {notify && (
          <>
            <Tile id="stat-notify-pending" title={t("notifyPending")} value={notify.pending} />
            <Tile id="stat-notify-dead" title={t("notifyDead")} value={notify.dead} />
          </>
        )}
        {openIncidents !== undefined && (
          <Tile id="stat-open-incidents" title={t("openIncidents")} value={openIncidents} />
        )}
        {pendingApps !== null && (
          <Tile id="stat-pending-applications" title={t("pendingApplications")} value={pendingApps} />
        )}
      </Row>
      {breakdown.length > 0 && (
        <Card title={t("byTypeChannel")} style={{ marginTop: 16 }}>
          <Table
            size="small"
            rowKey={(r) => `${r.trade_type}-${r.channel}`}
            pagination={false}
            dataSource={breakdown}
            data-testid="table-by-type-channel"
            columns={[
              { title: "trade_type", dataIndex: "trade_type" },
              { title: "channel", dataIndex: "channel" },
              { title: t("todayCount"), dataIndex: "count" },
              { title: t("todayVolume"), render: (_, r) => yuan(num(r.amount_fen ?? r.volume_fen)) },
              { title: t("successRate"), render: (_, r) => rate(r.success_rate) },
            ]}
          />
        </Card>
      )}
      {days.length > 0 && (
        <Card title={t("last30Days")} style={{ marginTop: 16 }}>
          <Chart labels={labels} series={series} testId="chart-30-days" />
        </Card>
      )}
    </div>
  );
}
