// Statement files (对账单): by trade day and bill type, download the zip.
import { App, Button, DatePicker, Select, Typography } from "antd";
import { useMemo, useState } from "react";
import { download, get } from "../api";
import { DataTable, offsetPager } from "../components/DataTable";
import { time } from "../format";
import { useI18n } from "../i18n";

const BILLS = ["TRADE_BILL", "SETTLE_BILL", "TRADE_BILL_MONTH", "SETTLE_BILL_MONTH"];

export function Statements() {
  const { t } = useI18n();
  const { message } = App.useApp();
  const [date, setDate] = useState<string | undefined>();
  const [bill, setBill] = useState<string | undefined>();
  const load = useMemo(
    () =>
      offsetPager(async (offset, limit) => {
        const d = await get("/admin/api/statements", { data_date: date, bill_type: bill, offset, limit });
        return { rows: d.files, total: d.total };
      }),
    [date, bill],
  );
  return (
    <div data-testid="page-statements">
      <Typography.Title level={4}>{t("statements")}</Typography.Title>
      <DataTable
        name="statements"
        rowKey="file_id"
        load={load}
        reloadKey={`${date}-${bill}`}
        extra={
          <>
            <DatePicker onChange={(d) => setDate(d ? d.format("YYYYMMDD") : undefined)} placeholder="data_date" />
            <Select allowClear placeholder="bill_type" style={{ width: 190 }} value={bill} onChange={setBill} options={BILLS.map((b) => ({ value: b, label: b }))} />
          </>
        }
        columns={[
          { title: "file_name", dataIndex: "file_name" },
          { title: "data_date", dataIndex: "data_date" },
          { title: "bill_type", dataIndex: "bill_type" },
          { title: "huifu_id", dataIndex: "huifu_id" },
          { title: "owner", dataIndex: "owner_kind" },
          { title: "rows", dataIndex: "row_count" },
          { title: "bytes", dataIndex: "file_size" },
          { title: "partial", dataIndex: "partial" },
          { title: t("createdAt"), dataIndex: "created_at", render: time },
          {
            title: t("actions"), key: "actions",
            render: (_, f: any) => (
              <Button size="small" data-testid={`download-${f.file_id}`}
                onClick={() => download(`/admin/api/statements/${f.file_id}/download`, f.file_name).catch((e) => message.error(e.message))}>
                {t("download")}
              </Button>
            ),
          },
        ]}
      />
    </div>
  );
}
