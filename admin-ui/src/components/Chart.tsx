// A line/bar chart drawn with ECharts (only the parts used are bundled).
import { useEffect, useRef } from "react";
import * as echarts from "echarts/core";
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export interface Series {
  name: string;
  kind: "line" | "bar";
  values: number[];
  /** Draw on the second (right) axis. */
  right?: boolean;
}

export function Chart({ labels, series, height = 280, testId }: { labels: string[]; series: Series[]; height?: number; testId?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const chart = echarts.init(ref.current);
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 60, right: 60, top: 36, bottom: 30 },
      xAxis: { type: "category", data: labels },
      yAxis: [{ type: "value" }, { type: "value" }],
      series: series.map((s) => ({ name: s.name, type: s.kind, data: s.values, yAxisIndex: s.right ? 1 : 0 })),
    });
    const resize = () => chart.resize();
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      chart.dispose();
    };
  }, [labels, series]);
  return <div ref={ref} style={{ width: "100%", height }} data-testid={testId} />;
}
