// The console is served by nkpay at /console (crates/nkpay-api/src/console.rs), so every asset
// URL starts there; `npm run dev` proxies the API to a running `nkpay demo` (port 8080).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // Libraries change less often than the console: separate files stay cached across releases.
    rollupOptions: {
      output: {
        manualChunks: {
          react: ["react", "react-dom", "react-router-dom"],
          antd: ["antd", "dayjs"],
          echarts: ["echarts"],
        },
      },
    },
  },
  server: {
    proxy: {
      "/admin/api": "http://127.0.0.1:8080",
      "/statements": "http://127.0.0.1:8080",
    },
  },
});
