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
  },
  server: {
    proxy: {
      "/admin/api": "http://127.0.0.1:8080",
      "/statements": "http://127.0.0.1:8080",
    },
  },
});
