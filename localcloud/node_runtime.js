// Lambda's Node.js runtime, locally: runs one handler on the event read from stdin and prints its
// result after a marker line. Run as `node node_runtime.js <code dir> <module.function> <function arn>`.
//
// Two things Lambda's environment provides are stood in for: the AWS SDK for JavaScript (NODE_PATH
// names the repository's node_modules, as Lambda's runtime ships the SDK), and the pre-signed HTTPS
// URL a CloudFormation custom resource answers on: a request to the reserved host RESPONSE_HOST is
// not sent anywhere; its body is printed after a second marker for the local cloud to read.
const https = require("https");
const path = require("path");

const RESPONSE_HOST = "cloudformation-response.localcloud.invalid";
const [codeDir, handlerName, functionArn] = process.argv.slice(2);

const sendHttps = https.request;
https.request = (options, callback) => {
  const host = typeof options === "string" ? new URL(options).hostname : options.hostname || options.host;
  if (host !== RESPONSE_HOST) return sendHttps(options, callback);
  const chunks = [];
  const request = {
    on: () => request,
    once: () => request,
    setTimeout: () => request,
    write: (chunk) => chunks.push(Buffer.from(chunk)),
    end: (chunk) => {
      if (chunk) chunks.push(Buffer.from(chunk));
      process.stdout.write(`\n@@RESPONSE@@${Buffer.concat(chunks).toString("utf8")}\n`);
      const response = { statusCode: 200, headers: {}, on: () => response, resume: () => response };
      if (callback) callback(response);
    },
  };
  return request;
};

async function main() {
  const separator = handlerName.lastIndexOf(".");
  const handler = require(path.join(codeDir, handlerName.slice(0, separator)))[handlerName.slice(separator + 1)];
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const event = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  const deadline = Date.now() + Number(process.env.AWS_LAMBDA_FUNCTION_TIMEOUT) * 1000;
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    invokedFunctionArn: functionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: "local",
    logGroupName: `/aws/lambda/${process.env.AWS_LAMBDA_FUNCTION_NAME}`,
    logStreamName: `local/${process.env.AWS_LAMBDA_FUNCTION_NAME}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  const result = await handler(event, context);
  process.stdout.write(`\n@@RESULT@@${JSON.stringify(result === undefined ? null : result)}\n`);
}

main().catch((error) => {
  const summary = `${error.name || "Error"}: ${String(error.message).split("\n")[0]}`;
  console.error(`${error.stack || ""}\n${summary}`);  // the last line names the error
  process.exit(1);
});
