// Hashes the victim's images off the page's thread, so that the page stays responsive while a large
// photograph is decoded and hashed. Each message is {id, file}; each answer {id, hashes, quality} or {id, error}.
import { pdqDihedralFromImageFile } from "./pdq.js";

self.onmessage = async ({ data: { id, file } }) => {
  try {
    const { hashes, quality } = await pdqDihedralFromImageFile(file);
    self.postMessage({ id, hashes, quality });
  } catch (error) {
    self.postMessage({ id, error: String(error) });
  }
};
