// GET /admin/api/dashboard: today's (Asia/Shanghai) trades — count, succeeded, success rate,
// succeeded amount — all together, by trade type and by channel; the last 30 days; the
// notification backlog (waiting for a first attempt, failing, given up); open incidents.
// Applications waiting for review come from the review queue, for roles that review.
import { Alert, Card, Col, Row, Statistic, Table, Typography } from "antd";
import { useEffect, useMemo, useState } from "react";
import { ApiError, get } from "../api";
import { useAuth } from "../auth";
import { Chart } from "../components/Chart";
import { useI18n } from "../i18n";

type Figures = { count: number; succeeded: number; success_rate: string; amount: string; amount_fen: number };
interface Dash {
  day: string;
  today: Figures;
  by_trade_type: (Figures & { trade_type: string })[];
  by_channel: (Figures & { channel: string })[];
  days: (Figures & { day: string })[];
  notification_backlog: { pending: number; failing: number; exhausted: number };
  open_incidents: number;
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
  const [error, setError] = useState<string | null>(null);
  const [pendingApps, setPendingApps] = useState<number | null>(null);
  const [stats, setStats] = useState<{ pending: number; dead: number } | null>(null);
  const [incidents, setIncidents] = useState<number | null>(null);

  useEffect(() => {
    get<Dash>("/admin/api/dashboard")
      .then(setDash)
      .catch((e) => {
        if (!(e instanceof ApiError && e.status === 404)) return setError(e.message);
        // A server without the dashboard endpoint: the backlog and incidents from their own calls.
        setError(t("notAvailable"));
        if (can("notifications.read")) get("/admin/api/notifications/stats").then(setStats).catch(() => {});
        if (can("reconciliation.read"))
          get("/admin/api/reconciliation/incidents", { limit: 500 }).then((d) => setIncidents(d.incidents.length)).catch(() => {});
      });
    if (can("merchants.review"))
      get("/admin/api/applications", { status: "P", limit: 500 })
        .then((d) => setPendingApps(d.applications.length))
        .catch(() => {});
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const days = dash?.days ?? [];
  const labels = useMemo(() => days.map((d) => d.day), [days]);
  const series = useMemo(
    () => [
      { name: t("todayVolume").replace(/今日|Today's /, ""), kind: "bar" as const, values: days.map((d) => d.amount_fen / 100) },
      { name: t("todayCount").replace(/今日|Today's /, ""), kind: "line" as const, values: days.map((d) => d.count), right: true },
    ],
    [days, t],
  );
  const breakdown = (rows: any[], key: string) => (
    <Table size="small" rowKey={key} pagination={false} dataSource={rows} data-testid={`table-by-${key}`}
      columns={[
        { title: key, dataIndex: key },
        { title: t("todayCount"), dataIndex: "count" },
        { title: "succeeded", dataIndex: "succeeded" },
        { title: t("successRate"), dataIndex: "success_rate", render: (v) => `${v}%` },
        { title: t("todayVolume"), dataIndex: "amount" },
      ]} />
  );

  return (
    <div data-testid="page-dashboard">
      <Typography.Title level={4}>
        {t("dashboard")} {dash && <Typography.Text type="secondary">{dash.day}</Typography.Text>}
      </Typography.Title>
      {error && <Alert type={dash || stats ? "info" : "warning"} message={error} style={{ marginBottom: 16 }} />}
      <Row gutter={[16, 16]}>
        {dash && (
          <>
            <Tile id="stat-today-volume" title={t("todayVolume")} value={dash.today.amount} />
            <Tile id="stat-today-count" title={t("todayCount")} value={dash.today.count} />
            <Tile id="stat-today-succeeded" title={t("todaySucceeded")} value={dash.today.succeeded} />
            <Tile id="stat-success-rate" title={t("successRate")} value={`${dash.today.success_rate}%`} />
            <Tile id="stat-notify-pending" title={t("notifyPending")} value={dash.notification_backlog.pending} />
            <Tile id="stat-notify-failing" title={t("notifyFailing")} value={dash.notification_backlog.failing} />
            <Tile id="stat-notify-exhausted" title={t("notifyDead")} value={dash.notification_backlog.exhausted} />
            <Tile id="stat-open-incidents" title={t("openIncidents")} value={dash.open_incidents} />
          </>
        )}
        {stats && (
          <>
            <Tile id="stat-notify-all-pending" title={t("notifyAllPending")} value={stats.pending} />
            <Tile id="stat-notify-exhausted" title={t("notifyDead")} value={stats.dead} />
          </>
        )}
        {incidents !== null && <Tile id="stat-open-incidents" title={t("openIncidents")} value={incidents} />}
        {pendingApps !== null && <Tile id="stat-pending-applications" title={t("pendingApplications")} value={pendingApps} />}
      </Row>
      {dash && (
        <Row gutter={[16, 16]} style={{ marginTop: 16 }}>
          <Col xs={24} lg={12}><Card title={`${t("byTypeChannel")}: trade_type`}>{breakdown(dash.by_trade_type, "trade_type")}</Card></Col>
          <Col xs={24} lg={12}><Card title={`${t("byTypeChannel")}: channel`}>{breakdown(dash.by_channel, "channel")}</Card></Col>
        </Row>
      )}
      {days.length > 0 && (
        <Card title={t("last30Days")} style={{ marginTop: 16 }}>
          <Chart labels={labels} series={series} testId="chart-30-days" />
        </Card>
      )}
    </div>
  );
}
