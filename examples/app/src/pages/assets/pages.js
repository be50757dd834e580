// The pages' two actions on top of the JSON API: create a project (POST /api/projects)
// and upload images to one (POST /api/projects/{id}/assets, the file as the raw body),
// then follow the rendering jobs (GET /api/jobs/{id}) and show the result.
"use strict";

(function () {
  // The problem document's detail, or the status line when the body is not one.
  async function problemOf(response) {
    try {
      const body = await response.json();
      if (body && typeof body.detail === "string") return body.detail;
    } catch (_) { /* not JSON */ }
    return response.status + " " + response.statusText;
  }

  function say(element, text, kind) {
    element.textContent = text;
    element.dataset.kind = kind || "";
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const create = document.getElementById("new-project");
  if (create) {
    const status = document.getElementById("new-project-status");
    create.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = create.elements.name.value.trim();
      if (!name) {
        say(status, "Give the project a name.", "error");
        return;
      }
      const button = create.querySelector("button");
      button.disabled = true;
      say(status, "Creating…", "busy");
      try {
        const response = await fetch("/api/projects", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name }),
        });
        if (response.status !== 201) {
          say(status, "Not created: " + (await problemOf(response)), "error");
          return;
        }
        const project = await response.json();
        window.location.assign("/projects/" + project.id);
      } catch (error) {
        say(status, "Not created: the server did not answer (" + error.message + ")", "error");
      } finally {
        button.disabled = false;
      }
    });
  }

  const upload = document.getElementById("upload");
  if (upload) {
    const status = document.getElementById("upload-status");
    const input = document.getElementById("upload-file");
    const project = upload.dataset.project;

    // Waits for a job to end; its final JSON (or null after two minutes).
    async function finished(jobId) {
      for (let i = 0; i < 240; i++) {
        const response = await fetch("/api/jobs/" + jobId);
        if (response.ok) {
          const job = await response.json();
          if (["succeeded", "failed", "dead"].includes(job.state)) return job;
        }
        await sleep(500);
      }
      return null;
    }

    input.addEventListener("change", async () => {
      const files = Array.from(input.files || []);
      if (files.length === 0) return;
      const jobs = [];
      const refused = [];
      for (const [i, file] of files.entries()) {
        say(status, "Uploading " + (i + 1) + " of " + files.length + ": " + file.name + "…", "busy");
        try {
          const response = await fetch(
            "/api/projects/" + project + "/assets?filename=" + encodeURIComponent(file.name),
            { method: "POST", headers: { "content-type": file.type || "application/octet-stream" }, body: file },
          );
          if (response.status === 202) {
            const body = await response.json();
            jobs.push(body.job.id);
          } else {
            refused.push(file.name + ": " + (await problemOf(response)));
          }
        } catch (error) {
          refused.push(file.name + ": the server did not answer (" + error.message + ")");
        }
      }
      input.value = "";
      if (jobs.length > 0) {
        say(status, "Rendering " + jobs.length + (jobs.length === 1 ? " image…" : " images…"), "busy");
        await Promise.all(jobs.map(finished));
      }
      if (refused.length > 0) {
        say(status, "Not uploaded: " + refused.join("; "), "error");
        if (jobs.length === 0) return;
        await sleep(2500); // leave the message readable before the page shows the new images
      }
      window.location.reload();
    });
  }
})();
