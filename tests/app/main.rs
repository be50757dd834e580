//! clip-app end to end: real PostgreSQL (started here through clip-pool's launcher, one
//! server for the run, a database per test), real HTTP, the app in-process or as a child
//! process running the binary's code (this executable re-run with `CLIP_APP_TEST_CHILD`).

mod admin;
mod api;
mod browser;
mod dashboard;
mod images;
mod jobs;
mod pages;
mod resilience;
mod startup;
mod support;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use libtest_mimic::{Arguments, Trial};
use support::{Ctx, TestResult};

type TestFn = fn(Arc<Ctx>) -> Pin<Box<dyn Future<Output = TestResult> + Send>>;

macro_rules! tests {
    ($($path:path),* $(,)?) => {
        vec![$((stringify!($path), (|ctx| Box::pin($path(ctx))) as TestFn)),*]
    };
}

fn all() -> Vec<(&'static str, TestFn)> {
    tests![
        api::every_route_answers_with_its_status_type_and_shape,
        api::projects_round_trip_in_keyset_pages,
        api::bad_requests_get_clear_problems,
        images::an_upload_is_rendered_and_served_by_img,
        images::media_serves_byte_ranges,
        images::corrupt_uploads_end_as_failed_jobs_with_a_message,
        images::two_instances_serve_each_others_uploads,
        images::two_instances_share_a_file_store,
        images::signed_transforms_render_any_size_and_refuse_forgeries,
        jobs::a_worker_killed_mid_job_loses_no_job,
        jobs::shutdown_gives_unfinished_jobs_back,
        jobs::instances_starting_together_migrate_once,
        admin::admin_endpoints_need_the_token_and_the_network,
        resilience::the_rate_limit_answers_429_after_the_burst,
        resilience::overload_is_shed_with_503,
        resilience::a_request_past_its_timeout_answers_503,
        resilience::sigterm_under_load_completes_every_accepted_request,
        resilience::a_database_outage_fails_fast_and_recovers,
        startup::a_bad_variable_stops_start_up_naming_it,
        startup::the_embedded_database_keeps_its_data_across_starts,
        startup::a_database_url_file_with_tls_is_honoured,
        pages::the_pages_show_projects_and_images_through_the_cdn,
        dashboard::the_dashboard_draws_live_figures_behind_the_token,
        dashboard::the_dashboard_shows_the_autoscalers_fleet,
    ]
}

fn main() -> ExitCode {
    if std::env::var_os(support::CHILD_ENV).is_some() {
        return support::run_child();
    }
    let args = Arguments::from_args();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = match runtime.block_on(Ctx::start()) {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            eprintln!("cannot start the tests' PostgreSQL: {e}");
            return ExitCode::FAILURE;
        }
    };
    let trials = all()
        .into_iter()
        .map(|(name, test)| {
            let ctx = ctx.clone();
            let handle = runtime.handle().clone();
            Trial::test(name.replace(' ', ""), move || {
                handle.block_on(test(ctx)).map_err(|e| e.to_string().into())
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(ctx); // stops the PostgreSQL server
    runtime.shutdown_timeout(Duration::from_secs(5));
    conclusion.exit_code()
}
